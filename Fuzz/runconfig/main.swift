import Foundation
import Operations

// The run configuration file: every bad key or value must be a ConfigError naming it, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? RunConfig(json: Data(bytes: data, count: size))
    return 0
}
