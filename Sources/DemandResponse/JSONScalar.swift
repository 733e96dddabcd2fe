import Foundation

/// Telling JSON numbers from JSON booleans after `JSONSerialization`: both arrive as `NSNumber`, and
/// only the Objective-C type ("c", char, for true/false) tells them apart. Shared by every reader of
/// FlexMiner's JSON inputs (signals, policy files, the run configuration).
public enum JSONScalar {
    /// The value as a number, or nil when it is not a JSON number (a boolean is not one).
    public static func number(_ value: Any) -> Double? {
        guard let n = value as? NSNumber, !isBool(n) else { return nil }
        return n.doubleValue
    }

    /// The value as a boolean, or nil when it is not JSON true/false (1 and 0 are not).
    public static func bool(_ value: Any) -> Bool? {
        guard let n = value as? NSNumber, isBool(n) else { return nil }
        return n.boolValue
    }

    static func isBool(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }
}
