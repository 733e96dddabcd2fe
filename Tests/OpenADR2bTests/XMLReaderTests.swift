import OpenADR2b
import Testing

@Suite("OpenADR 2.0b XML reading")
struct XMLReaderTests {
    @Test("elements are found by namespace URI, whatever the prefix")
    func namespacesNotPrefixes() throws {
        let a = try XMLReader.parse(
            """
            <x:oadrPayload xmlns:x="http://openadr.org/oadr-2.0b/2012/07"><x:oadrSignedObject>
            <y:venID xmlns:y="http://docs.oasis-open.org/ns/energyinterop/201110"> ven &amp; 1 </y:venID>
            </x:oadrSignedObject></x:oadrPayload>
            """)
        let b = try XMLReader.parse(
            """
            <oadrPayload xmlns="http://openadr.org/oadr-2.0b/2012/07"><oadrSignedObject>
            <venID xmlns="http://docs.oasis-open.org/ns/energyinterop/201110"> ven &amp; 1 </venID>
            </oadrSignedObject></oadrPayload>
            """)
        for root in [a, b] {
            let ven = root.descendant([(OADRNamespace.oadr, "oadrSignedObject"), (OADRNamespace.ei, "venID")])
            #expect(ven?.trimmedText == "ven & 1")
        }
        // The right local name in the wrong namespace is not the element.
        let wrong = try XMLReader.parse(
            #"<oadrPayload xmlns="urn:not-openadr"><oadrSignedObject/></oadrPayload>"#)
        #expect(wrong.child(OADRNamespace.oadr, "oadrSignedObject") == nil)
    }

    @Test(
        "hostile documents get a named error, never a trap",
        arguments: [
            ("", "empty document"),
            ("<a><b></a>", "not well-formed"),
            (
                """
                <?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">
                <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>
                """, "DOCTYPE"
            ),
            (
                #"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#,
                "DOCTYPE"
            ),
            (#"<!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd"><r/>"#, "DOCTYPE"),
            ("<r>&undefined;</r>", "not well-formed"),
            (String(repeating: "<a>", count: 60) + String(repeating: "</a>", count: 60), "nested deeper"),
            (String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000), "not well-formed"),
            ("<r>" + String(repeating: "x", count: (1 << 20) + 1) + "</r>", "over the limit"),
            ("\u{0}\u{1}binary", "not well-formed"),
        ])
    func hostile(_ input: String, _ expected: String) {
        #expect {
            _ = try XMLReader.parse(input)
        } throws: { error in
            guard let e = error as? OpenADR2bError else { return false }
            return e.kind == .xml && e.message.contains(expected)
        }
    }

    @Test("attributes by local name, text and CDATA concatenated, comments ignored")
    func attributesAndText() throws {
        let root = try XMLReader.parse(
            #"<r xmlns:ei="urn:e" ei:schemaVersion="2.0b" Id="x"><!-- c -->a<![CDATA[<b>]]>c</r>"#)
        #expect(root.attributes["schemaVersion"] == "2.0b")
        #expect(root.attributes["Id"] == "x")
        #expect(root.text == "a<b>c")
    }
}
