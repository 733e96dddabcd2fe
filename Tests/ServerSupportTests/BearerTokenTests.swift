import NIOHTTP1
import ServerSupport
import Testing

@Suite("One bearer-token parser")
struct BearerTokenTests {
    @Test(
        arguments: [
            ("Bearer abc", "abc"), ("Bearer ", ""), ("Bearer a b", "a b"), ("bearer abc", nil), ("Basic abc", nil),
            ("Bearerabc", nil), ("", nil),
        ] as [(String, String?)])
    func theTokenOfAnAuthorizationHeader(header: String, token: String?) {
        #expect(BearerToken.parse(header) == token)
    }

    @Test func aRequestIsAuthorizedOnlyWithTheExactToken() {
        let token = "a-token-of-24-characters"
        #expect(BearerToken.authorized(["Authorization": "Bearer \(token)"], token: token))
        #expect(!BearerToken.authorized(["Authorization": "Bearer \(token)x"], token: token))
        #expect(!BearerToken.authorized(["Authorization": "Bearer \(token.dropLast())"], token: token))
        #expect(!BearerToken.authorized(["Authorization": "Basic \(token)"], token: token))
        #expect(!BearerToken.authorized([:], token: token))
        #expect(BearerToken.challenge == #"Bearer realm="flexminer""#)
    }
}
