import Foundation
import Primitives
import Testing

@Suite("JSON scanner")
struct JSONScannerTests {
    private func data(_ text: String) -> Data { Data(text.utf8) }

    /// Foundation's verdict, the oracle: the scanner must accept exactly what `JSONDecoder` accepts.
    private func foundationAccepts(_ bytes: Data) -> Bool { (try? JSONValue(parsing: bytes)) != nil }

    @Test("accepts what RFC 8259 allows", arguments: [
        "{}", "[]", "0", "-0", "1.5e-3", "-12E+4", "\"\"", "true", "false", "null", " \n\t{ \"a\" : [ 1 , 2 ] } \r\n",
        #"{"a":{"b":[{"c":null}]},"d":"\u00e9\n\"\\\/"}"#, "\"é€𝄞\"", #"[[],{},[{}],"x"]"#,
        // One trailing comma: not RFC 8259, but Foundation's JSONDecoder takes it, and the scanner agrees with it.
        "[1,]", #"{"a":1, }"#, "[[],]",
    ])
    func accepts(text: String) throws {
        try JSONScanner.validate(data(text))
        #expect(foundationAccepts(data(text)))
    }

    @Test("refuses what RFC 8259 does not, and says where", arguments: [
        ("", "expected a value"), ("{", "expected a string key"), ("[1,,]", "unexpected character"),
        (#"{"a":1,,}"#, "expected a string key"), ("[,]", "unexpected character"), (#"{,}"#, "expected a string key"),
        (#"{"a" 1}"#, "expected ':'"), ("[1 2]", "expected ','"),
        ("01", "unexpected text after the value"), ("1.", "expected a digit after '.'"), ("1e", "expected a digit"),
        ("-", "expected a digit"), ("tru", "truncated literal"), ("nul1", "invalid literal"),
        ("\"a", "unterminated string"), ("\"\\x\"", "invalid escape"), ("\"\\u12g4\"", "invalid \\u escape"),
        ("\"a\u{01}b\"", "control character"), ("{} {}", "unexpected text after the value"), ("[", "expected a value"),
        ("[1", "unterminated array"), (#"{"a":1"#, "unterminated object"), ("'a'", "unexpected character"),
    ])
    func refuses(text: String, reason: String) {
        #expect(throws: JSONScanner.SyntaxError.self) { try JSONScanner.validate(data(text)) }
        do {
            try JSONScanner.validate(data(text))
        } catch {
            #expect(error.reason.contains(reason), "\(text): \(error)")
        }
        #expect(!foundationAccepts(data(text)), "Foundation refuses \(text) too")
    }

    @Test("refuses invalid UTF-8: stray continuation, overlong, surrogate, past U+10FFFF, truncated")
    func refusesInvalidUTF8() {
        for bytes: [UInt8] in [[0x80], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
                               [0xE2, 0x82]] {
            let text = Data([UInt8(ascii: "\"")] + bytes + [UInt8(ascii: "\"")])
            #expect(throws: JSONScanner.SyntaxError.self, "\(bytes)") { try JSONScanner.validate(text) }
        }
    }

    @Test("nesting: 512 levels accepted, 513 refused, as Foundation does; no recursion, so no stack to exhaust")
    func nestingLimit() throws {
        let deepest = data(String(repeating: "[", count: 512) + String(repeating: "]", count: 512))
        try JSONScanner.validate(deepest)
        #expect(foundationAccepts(deepest))
        let tooDeep = data(String(repeating: "[", count: 513) + String(repeating: "]", count: 513))
        #expect(throws: JSONScanner.SyntaxError.self) { try JSONScanner.validate(tooDeep) }
        #expect(!foundationAccepts(tooDeep))
        // A million open brackets: refused at the limit, not after a million frames.
        #expect(throws: JSONScanner.SyntaxError.self) {
            try JSONScanner.validate(data(String(repeating: "{\"a\":", count: 1_000_000)))
        }
    }

    @Test("objects and arrays interleaved 510 deep (across the open-container stack's 64-bit words) close in kind")
    func interleavedNestingClosesInKind() throws {
        // Level i is an object when i % 3 == 0, else an array: the closers must come back in exactly that order.
        let kinds = (0..<510).map { $0 % 3 == 0 }
        let opening = kinds.map { $0 ? "{\"k\":" : "[" }.joined()
        let closing = kinds.reversed().map { $0 ? "}" : "]" }.joined()
        let valid = data(opening + "1" + closing)
        try JSONScanner.validate(valid)
        #expect(foundationAccepts(valid))
        // The same document with one closer of the wrong kind, at each of a few depths, straddling word boundaries.
        for depth in [0, 63, 64, 65, 127, 128, 300, 509] {
            var closers = Array(closing)
            let position = closers.count - 1 - depth
            closers[position] = closers[position] == "}" ? "]" : "}"
            let broken = data(opening + "1" + String(closers))
            #expect(throws: JSONScanner.SyntaxError.self, "a wrong closer at depth \(depth)") {
                try JSONScanner.validate(broken)
            }
            #expect(!foundationAccepts(broken))
        }
    }

    @Test("members: keys decoded (escapes too), values as byte ranges of the original text, nested objects unread")
    func members() throws {
        let text = #"{ "a" : [1, {"x": 2}], "b\u00e9\"" :"s" ,"c":{}, "d": -1.5e3 }"#
        let bytes = data(text)
        let members = try #require(try JSONScanner.members(ofObjectIn: bytes))
        #expect(members.map(\.key) == ["a", "bé\"", "c", "d"])
        let values = members.map { String(decoding: JSONScanner.slice(bytes, $0.value), as: UTF8.self) }
        #expect(values == [#"[1, {"x": 2}]"#, #""s""#, "{}", "-1.5e3"])
        let inner = try #require(try JSONScanner.members(ofObjectIn: bytes, range: members[2].value))
        #expect(inner.isEmpty)
        #expect(try JSONScanner.members(ofObjectIn: bytes, range: members[0].value) == nil, "an array is not an object")
        #expect(JSONScanner.kind(of: bytes, range: members[0].value) == UInt8(ascii: "["))
    }

    @Test("only member: a valid body's one member, in one pass; anything else, valid or not, is the general reader's",
          arguments: [
              (#"{"org.A":{"x":1}}"#, "org.A", #"{"x":1}"#), (" \n{ \"k\" :\t[1] }\r\n", "k", "[1]"),
              (#"{"k":"v"}"#, "k", #""v""#),
              (#"{"a":1,"b":2}"#, nil, nil), ("{}", nil, nil), ("[1]", nil, nil), (#"{"k":1,}"#, nil, nil),
              (#"{"\u006b":1}"#, nil, nil),
              // Not valid JSON: nothing is vouched for, wherever the fault is.
              (#"{"k":{"x":tru}}"#, nil, nil), (#"{"k":"\u12"}"#, nil, nil), (#"{"k":1} x"#, nil, nil),
              (#"{"k":[1,}"#, nil, nil), (#"{"k":1"#, nil, nil), (#"{"k" 1}"#, nil, nil),
              ("{\"k\":\"a\u{01}\"}", nil, nil),
          ] as [(String, String?, String?)])
    func onlyMember(text: String, key: String?, value: String?) throws {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { buffer in
            let found = JSONScanner.validatedOnlyMember(buffer)
            #expect(found.map { String(decoding: buffer[$0.key], as: UTF8.self) } == key)
            #expect(found.map { String(decoding: buffer[$0.value], as: UTF8.self) } == value)
            if found != nil { #expect(throws: Never.self) { try JSONScanner.validate(buffer) } }
        }
    }

    @Test("only member: the body's own object counts against the nesting limit, as in Foundation")
    func onlyMemberNesting() {
        // The body's `{`, the message's `{` and 510 arrays: 512 levels, Foundation's limit; one more is refused.
        for (arrays, accepted) in [(510, true), (511, false)] {
            let text = #"{"k":{"a":"# + String(repeating: "[", count: arrays) + String(repeating: "]", count: arrays)
                + "}}"
            #expect(foundationAccepts(data(text)) == accepted)
            Array(text.utf8).withUnsafeBytes { buffer in
                #expect((JSONScanner.validatedOnlyMember(buffer) != nil) == accepted, "\(arrays) arrays")
                let object = JSONBytesDecoder.withOnlyMemberObject(buffer) { _, object in object.byteRange }
                #expect((object != nil) == accepted, "\(arrays) arrays, with the member table")
            }
            let scalar = #"{"k":"# + String(repeating: "[", count: arrays + 1) + String(repeating: "]", count: arrays + 1)
                + "}"
            #expect(foundationAccepts(data(scalar)) == accepted)
            Array(scalar.utf8).withUnsafeBytes { buffer in
                #expect((JSONScanner.validatedOnlyMember(buffer) != nil) == accepted, "\(arrays + 1) arrays, no object")
            }
        }
    }

    @Test("only member object: 3,000 mutated envelopes get validatedOnlyMember's verdict and decode's values")
    func onlyMemberObjectAgreesWithTheTwoPasses() throws {
        let seeds = [
            #"{"org.A":{"a":[1,2,{"b":null}],"c":"d\"e","f":true,"headers":{"x":{}}}}"#,
            #"{"k":{ "x" : 1 , "y":[{}], }}"#, #"{"k":{}}"#, #"{"k":{"a":1,"a":2}}"#, #"{"k":{"\u0061":1}}"#,
        ]
        let alphabet = Array(#"{}[],:" \tabtruefalsn\"#.utf8)
        var generator = SplitMix64(seed: 0xB0D1)
        var disagreements: [String] = []
        for round in 0..<3_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            if round >= seeds.count {
                for _ in 0..<(1 + Int(generator.next() % 3)) {
                    let position = Int(generator.next() % UInt64(bytes.count + 1))
                    switch generator.next() % 3 {
                    case 0 where position < bytes.count: bytes.remove(at: position)
                    case 1 where position < bytes.count:
                        bytes[position] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                    default: bytes.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: position)
                    }
                }
            }
            let agrees: Bool = bytes.withUnsafeBytes { buffer in
                let twoPass = JSONScanner.validatedOnlyMember(buffer)
                let twoPassObject = twoPass.flatMap { buffer[$0.value.lowerBound] == UInt8(ascii: "{") ? $0 : nil }
                let twoPassValue = twoPassObject.map { member in
                    Result { try JSONBytesDecoder.decode(JSONValue.self, validated: buffer, range: member.value) }
                }
                let onePass = JSONBytesDecoder.withOnlyMemberObject(buffer) { key, object in
                    (Array(key), object.byteRange, Result { try object.decode(JSONValue.self) })
                }
                guard let twoPassObject, let twoPassValue else { return onePass == nil }
                guard let onePass else {
                    // Refused only where the decoder would give up too: escaped or repeated keys.
                    if case .failure(let error) = twoPassValue { return error is JSONBytesDecoder.Unsupported }
                    return false
                }
                guard onePass.0 == Array(buffer[twoPassObject.key]), onePass.1 == twoPassObject.value else { return false }
                switch (onePass.2, twoPassValue) {
                case (.success(let one), .success(let two)): return one == two
                case (.failure(let one), .failure(let two)): return "\(one)" == "\(two)"
                default: return false
                }
            }
            if !agrees { disagreements.append(String(decoding: bytes, as: UTF8.self)) }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
    }

    @Test("offsets count from the first byte of a Data slice, not from its storage")
    func dataSlices() throws {
        let whole = data(#"xx{"k":"v"}yy"#)
        let slice = whole[2..<11]
        let members = try #require(try JSONScanner.members(ofObjectIn: slice))
        #expect(members.first?.key == "k")
        #expect(JSONScanner.slice(slice, try #require(members.first).value) == data(#""v""#))
    }

    @Test("differential: 3,000 mutations of valid documents get the same verdict from the scanner and Foundation")
    func agreesWithFoundation() {
        let seeds = [
            #"{"a":[1,2,{"b":null}],"c":"d\"e","f":true}"#, #"[{"x":{}},[],"\u0041",-0.5]"#,
            #"{"headers":{"replyTo":"q","task-context":{},"trace":[[[]]]}}"#,
        ]
        // Structural characters only: digits inserted next to digits would make numbers Foundation cannot hold
        // (1e999), a question of range, not of syntax.
        let alphabet = Array(#"{}[],:" \tabtruefalsn\"#.utf8)
        var generator = SplitMix64(seed: 0x5EED)
        var disagreements: [String] = []
        for round in 0..<3_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0..<(1 + Int(generator.next() % 3)) {
                let position = Int(generator.next() % UInt64(bytes.count + 1))
                switch generator.next() % 3 {
                case 0 where position < bytes.count: bytes.remove(at: position)
                case 1 where position < bytes.count: bytes[position] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
                default: bytes.insert(alphabet[Int(generator.next() % UInt64(alphabet.count))], at: position)
                }
            }
            let text = Data(bytes)
            let scanner = (try? JSONScanner.validate(text)) != nil
            if scanner != foundationAccepts(text) { disagreements.append(String(decoding: bytes, as: UTF8.self)) }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
    }

    @Test("RawJSON keeps the text and decodes only on request")
    func rawJSON() throws {
        let raw = try RawJSON(validating: data(#"[1, {"a": "b"}]"#))
        #expect(raw.bytes == data(#"[1, {"a": "b"}]"#))
        #expect(try raw.decoded() == [1, ["a": "b"]])
        #expect(throws: JSONScanner.SyntaxError.self) { try RawJSON(validating: data("[1,")) }
    }
}
