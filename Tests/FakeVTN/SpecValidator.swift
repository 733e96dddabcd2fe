import Foundation
import Synchronization

/// One OpenADR 3 OpenAPI document as the fake VTN enforces it: the tables that
/// `scripts/openadr3-spec-tables` generates from the specification (`Spec/openadr3-<version>.json`,
/// embedded), read by this small interpreter of the OpenAPI 3.0 schema keywords they use (type, format,
/// enum, required, properties, items, allOf/oneOf/anyOf, lengths, bounds, pattern, nullable). No check
/// is written by hand here: what a request may carry is what the document says.
///
/// It is the fake's own code, independent of the `OpenADR` module it holds to the specification.
package final class OpenAPISpec: @unchecked Sendable {
    // @unchecked: the tables are immutable JSON values after init; the regex cache is under a lock.
    package let version: String
    let schemas: [String: Any]
    let routes: [Route]
    private let regexes = Mutex<[String: NSRegularExpression]>([:])

    struct Route {
        let template: String
        let segments: [String]
        let operations: [String: [String: Any]]
    }

    /// An operation found for a request: its path template and the values of its path parameters.
    package struct Match: @unchecked Sendable {
        package let template: String
        package let method: String
        let operation: [String: Any]
        let pathParameters: [String: String]
    }

    package enum Lookup: Sendable {
        case found(Match)
        case noPath
        case noMethod(allowed: [String])
    }

    /// Reads generated tables (the JSON `scripts/openadr3-spec-tables` writes).
    package init(json: [UInt8]) throws {
        guard let doc = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any],
            let version = doc["version"] as? String, let paths = doc["paths"] as? [String: [String: [String: Any]]],
            let schemas = doc["schemas"] as? [String: Any]
        else { throw CocoaError(.coderReadCorrupt) }
        self.version = version
        self.schemas = schemas
        routes = paths.map { Route(template: $0.key, segments: Self.split($0.key), operations: $0.value) }
    }

    /// The specification's 3.0.1 and 3.1.0 documents, by version.
    package static let all: [String: OpenAPISpec] = {
        var out: [String: OpenAPISpec] = [:]
        for bytes in [PackageResources.openadr3_3_0_1_json, PackageResources.openadr3_3_1_0_json] {
            // The tables are generated and committed: a failure here is a build defect, seen by every test.
            guard let spec = try? OpenAPISpec(json: bytes) else { continue }
            out[spec.version] = spec
        }
        return out
    }()

    static func split(_ path: String) -> [String] { path.split(separator: "/").map(String.init) }

    /// The operation for `method` on `path` (relative to the base path). Literal segments win over
    /// templated ones (`/notifiers/mqtt/topics/events` over `/…/{programID}`).
    package func lookup(method: String, path: String) -> Lookup {
        let parts = Self.split(path)
        var best: (route: Route, literal: Int, params: [String: String])?
        for route in routes where route.segments.count == parts.count {
            var params: [String: String] = [:]
            var literal = 0
            var ok = true
            for (t, p) in zip(route.segments, parts) {
                if t.hasPrefix("{") && t.hasSuffix("}") {
                    params[String(t.dropFirst().dropLast())] = p.removingPercentEncoding ?? p
                } else if t == p {
                    literal += 1
                } else {
                    ok = false
                    break
                }
            }
            if ok && literal > (best?.literal ?? -1) { best = (route, literal, params) }
        }
        guard let best else { return .noPath }
        guard let op = best.route.operations[method] else {
            return .noMethod(allowed: best.route.operations.keys.sorted())
        }
        return .found(Match(template: best.route.template, method: method, operation: op, pathParameters: best.params))
    }

    // MARK: Requests

    /// What is wrong with a request (empty: nothing), each naming the parameter or the body's field.
    package func checkRequest(_ m: Match, query: [String: String], contentType: String?, body: Data) -> [String] {
        var problems: [String] = []
        let parameters = m.operation["parameters"] as? [[String: Any]] ?? []
        let known = Set(parameters.filter { $0["in"] as? String == "query" }.compactMap { $0["name"] as? String })
        for key in query.keys.sorted() where !known.contains(key) {
            problems.append("query parameter \"\(key)\" is not defined for \(m.method) \(m.template)")
        }
        for p in parameters {
            guard let name = p["name"] as? String, let place = p["in"] as? String else { continue }
            let value: String?
            switch place {
            case "query": value = query[name]
            case "path": value = m.pathParameters[name]
            default: continue
            }
            guard let value else {
                if p["required"] as? Bool == true { problems.append("\(place) parameter \"\(name)\" is required") }
                continue
            }
            let schema: Any = p["schema"] ?? [String: Any]()
            let typed = parameterValue(value, schema: schema, explode: p["explode"] as? Bool ?? true)
            validate(typed, schema, at: "\(place) parameter \"\(name)\"", &problems, depth: 0)
        }
        guard let requestBody = m.operation["requestBody"] as? [String: Any] else { return problems }
        let content = requestBody["content"] as? [String: Any] ?? [:]
        if body.isEmpty {
            if requestBody["required"] as? Bool == true { problems.append("a request body is required") }
            return problems
        }
        let media = (contentType ?? "").split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard let media, let schema = content[media] else {
            problems.append(
                "Content-Type \"\(contentType ?? "")\" is not one of \(content.keys.sorted().joined(separator: ", "))")
            return problems
        }
        let value: Any?
        if media == "application/x-www-form-urlencoded" {
            value = Self.form(body)
        } else {
            value = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
            if value == nil {
                problems.append("the request body is not JSON")
                return problems
            }
        }
        validate(value, schema, at: "body", &problems, depth: 0)
        return problems
    }

    /// A query or path parameter's text as the JSON value its schema describes (left as text when it
    /// cannot be read as that type, so the type check names it).
    func parameterValue(_ text: String, schema: Any, explode: Bool) -> Any {
        let s = resolved(schema)
        switch s["type"] as? String {
        case "integer":
            if let n = Int(text) { return NSNumber(value: n) }
            return text
        case "number":
            if let d = Double(text) { return NSNumber(value: d) }
            return text
        case "boolean":
            if text == "true" || text == "false" { return NSNumber(value: text == "true") }
            return text
        case "array":
            let items: Any = s["items"] ?? [String: Any]()
            let values = explode ? [text] : text.split(separator: ",").map(String.init)
            return values.map { parameterValue($0, schema: items, explode: true) }
        default: return text
        }
    }

    static func form(_ body: Data) -> [String: Any] {
        var out: [String: Any] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            out[kv[0]] = kv.count > 1 ? kv[1] : ""
        }
        return out
    }

    // MARK: Responses

    /// What is wrong with a response the fake is about to send. A status the operation does not document
    /// is a problem for 2xx; an undocumented error is held to the `problem` schema.
    package func checkResponse(_ m: Match, status: Int, body: Data) -> [String] {
        let responses = m.operation["responses"] as? [String: Any] ?? [:]
        let entry = responses[String(status)] ?? responses["\(status / 100)XX"] ?? responses["default"]
        let content: [String: Any]
        if let e = entry as? [String: Any] {
            content = e
        } else if (200..<300).contains(status) {
            return ["status \(status) is not a documented response of \(m.method) \(m.template)"]
        } else {
            content = schemas["problem"] == nil ? [:] : ["application/json": ["$ref": "problem"]]
        }
        guard let schema = content["application/json"] else { return [] }
        guard let value = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) else {
            return ["the response body is not JSON"]
        }
        var problems: [String] = []
        validate(value, schema, at: "response", &problems, depth: 0)
        return problems
    }

    /// What is wrong with `value` as an instance of the named schema (a notification, say).
    package func check(_ value: Any, schema name: String) -> [String] {
        var problems: [String] = []
        validate(value, ["$ref": name], at: name, &problems, depth: 0)
        return problems
    }

    // MARK: Schemas

    func resolved(_ schema: Any) -> [String: Any] {
        var s = schema as? [String: Any] ?? [:]
        var hops = 0
        while let ref = s["$ref"] as? String, hops < 32 {
            s = schemas[ref] as? [String: Any] ?? [:]
            hops += 1
        }
        return s
    }

    enum Kind: String { case null, boolean, integer, number, string, array, object }

    static func kind(_ v: Any?) -> Kind {
        guard let v, !(v is NSNull) else { return .null }
        if v is String { return .string }
        if v is [Any] { return .array }
        if v is [String: Any] { return .object }
        if let n = v as? NSNumber {
            // JSONSerialization makes booleans char-typed numbers.
            let t = String(cString: n.objCType)
            if t == "c" || t == "B" { return .boolean }
            let d = n.doubleValue
            return d.isFinite && d == d.rounded() && abs(d) < 9e15 ? .integer : .number
        }
        return v is Bool ? .boolean : .null
    }

    /// Appends to `problems` what is wrong with `value` against `schema`, naming the field by `at`
    /// (`body.objectOperations[0].operations[0]`). Bounded in depth: a hostile document cannot recurse far.
    func validate(_ value: Any?, _ raw: Any, at: String, _ problems: inout [String], depth: Int) {
        guard depth < 48, problems.count < 20 else { return }
        let s = resolved(raw)
        let kind = Self.kind(value)
        if kind == .null {
            if s["nullable"] as? Bool == true || s.isEmpty { return }
            if s["type"] != nil || s["properties"] != nil {
                problems.append("\(at) must not be null")
                return
            }
        }
        for sub in s["allOf"] as? [Any] ?? [] { validate(value, sub, at: at, &problems, depth: depth + 1) }
        if let any = s["anyOf"] as? [Any], !any.isEmpty {
            branches(value, any, at: at, &problems, depth: depth, exactlyOne: false)
        }
        if let one = s["oneOf"] as? [Any], !one.isEmpty {
            branches(value, one, at: at, &problems, depth: depth, exactlyOne: true)
        }
        if let type = s["type"] as? String, kind.rawValue != type, !(type == "number" && kind == .integer) {
            problems.append("\(at) must be \(Self.article(type)) (got \(kind.rawValue))")
            return
        }
        if let options = s["enum"] as? [Any] {
            let text = options.map { "\($0)" }
            if !text.contains("\(value ?? "null")") || kind == .object || kind == .array {
                problems.append("\(at): \(Self.show(value)) is not one of \(text.joined(separator: ", "))")
            }
        }
        switch kind {
        case .string: checkString(value as? String ?? "", s, at: at, &problems)
        case .integer, .number: checkNumber((value as? NSNumber)?.doubleValue ?? 0, s, at: at, &problems)
        case .array:
            let items = value as? [Any] ?? []
            if let n = s["minItems"] as? Int, items.count < n { problems.append("\(at) has fewer than \(n) items") }
            if let n = s["maxItems"] as? Int, items.count > n { problems.append("\(at) has more than \(n) items") }
            if let itemSchema = s["items"] {
                for (i, item) in items.enumerated() {
                    validate(item, itemSchema, at: "\(at)[\(i)]", &problems, depth: depth + 1)
                }
            }
        case .object:
            let o = value as? [String: Any] ?? [:]
            for name in s["required"] as? [String] ?? [] where o[name] == nil {
                problems.append("\(at).\(name) is required")
            }
            let properties = s["properties"] as? [String: Any] ?? [:]
            for (name, v) in o.sorted(by: { $0.key < $1.key }) {
                if let p = properties[name] {
                    validate(v, p, at: "\(at).\(name)", &problems, depth: depth + 1)
                } else if let extra = s["additionalProperties"] {
                    if extra as? Bool == false {
                        problems.append("\(at).\(name) is not a defined property")
                    } else if extra is [String: Any] {
                        validate(v, extra, at: "\(at).\(name)", &problems, depth: depth + 1)
                    }
                }
            }
        case .null, .boolean: break
        }
    }

    func branches(_ value: Any?, _ list: [Any], at: String, _ problems: inout [String], depth: Int, exactlyOne: Bool) {
        var results: [[String]] = []
        for branch in list {
            var p: [String] = []
            validate(value, branch, at: at, &p, depth: depth + 1)
            results.append(p)
        }
        let matching = results.filter(\.isEmpty).count
        if matching == 0 {
            // The closest branch says best what is missing.
            problems += results.min { $0.count < $1.count } ?? ["\(at) matches none of its schemas"]
        } else if exactlyOne && matching > 1 {
            problems.append("\(at) matches \(matching) of its oneOf schemas (exactly one is allowed)")
        }
    }

    func checkString(_ text: String, _ s: [String: Any], at: String, _ problems: inout [String]) {
        let count = text.count
        if let n = s["minLength"] as? Int, count < n { problems.append("\(at) is shorter than \(n) characters") }
        if let n = s["maxLength"] as? Int, count > n { problems.append("\(at) is longer than \(n) characters") }
        if let pattern = s["pattern"] as? String, !matches(text, pattern) {
            problems.append("\(at): \(Self.show(text)) does not match \(pattern)")
        }
        switch s["format"] as? String {
        case "date-time":
            if !matches(text, #"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"#) {
                problems.append("\(at): \(Self.show(text)) is not an RFC 3339 date-time")
            }
        case "uri":
            if !matches(text, #"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$"#) {
                problems.append("\(at): \(Self.show(text)) is not an absolute URI")
            }
        default: break
        }
    }

    func checkNumber(_ d: Double, _ s: [String: Any], at: String, _ problems: inout [String]) {
        if let min = (s["minimum"] as? NSNumber)?.doubleValue {
            if s["exclusiveMinimum"] as? Bool == true ? d <= min : d < min {
                problems.append("\(at): \(Self.number(d)) is below the minimum \(Self.number(min))")
            }
        }
        if let max = (s["maximum"] as? NSNumber)?.doubleValue {
            if s["exclusiveMaximum"] as? Bool == true ? d >= max : d > max {
                problems.append("\(at): \(Self.number(d)) is above the maximum \(Self.number(max))")
            }
        }
        if s["format"] as? String == "int32", d < Double(Int32.min) || d > Double(Int32.max) {
            problems.append("\(at): \(Self.number(d)) is not an int32")
        }
    }

    func matches(_ text: String, _ pattern: String) -> Bool {
        let regex = regexes.withLock { cache -> NSRegularExpression? in
            if let r = cache[pattern] { return r }
            let r = try? NSRegularExpression(pattern: pattern)
            if let r, cache.count < 256 { cache[pattern] = r }
            return r
        }
        guard let regex else { return true }  // a pattern ICU cannot compile constrains nothing here
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    static func article(_ type: String) -> String {
        (type.first.map { "aeiou".contains($0) } ?? false ? "an " : "a ") + type
    }

    static func number(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }

    static func show(_ v: Any?) -> String {
        guard let v else { return "null" }
        if let s = v as? String { return "\"\(s.prefix(60))\"" }
        return String("\(v)".prefix(60))
    }
}
