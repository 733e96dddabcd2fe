import ArgumentParser
import NodeRPC

/// `--rpc URL` with `--rpc-cookie PATH` or `--rpc-user U --rpc-password P`.
struct NodeOptions: ParsableArguments {
    @Option(help: "bitcoind JSON-RPC endpoint, e.g. http://127.0.0.1:18443 (regtest).")
    var rpc: String?

    @Option(help: "bitcoind's .cookie file (e.g. ~/.bitcoin/regtest/.cookie).")
    var rpcCookie: String?

    @Option(help: "RPC user (with --rpc-password).")
    var rpcUser: String?

    @Option(help: "RPC password (with --rpc-user). Never printed or logged.")
    var rpcPassword: String?

    func credentials() throws -> NodeCredentials {
        guard let credentials = NodeCredentials(cookie: rpcCookie, user: rpcUser, password: rpcPassword) else {
            throw ValidationError("give --rpc-cookie PATH, or --rpc-user and --rpc-password")
        }
        return credentials
    }

    func client() throws -> NodeRPCClient {
        guard let url = rpc else { throw ValidationError("--rpc URL is required") }
        do { return try NodeRPCClient(url: url, credentials: try credentials()) } catch let e as NodeRPCError {
            throw ValidationError(e.message)
        }
    }
}
