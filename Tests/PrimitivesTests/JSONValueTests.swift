import Foundation
import Primitives
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    @Test func integersSurviveARoundTripExactly() throws {
        let values: [Int64] = [0, -1, 1_740_739_617_000, 9_007_199_254_740_993, Int64.max, Int64.min]
        for value in values {
            let text = "{\"n\":\(value)}"
            let parsed = try JSONValue(parsing: Data(text.utf8))
            #expect(parsed["n"] == .integer(value))
            let reparsed = try JSONValue(parsing: parsed.jsonData())
            #expect(reparsed["n"]?.int64Value == value)
            #expect(String(decoding: try parsed.jsonData(), as: UTF8.self) == text)
        }
    }

    @Test func kindsAreNotConfused() throws {
        let parsed = try JSONValue(parsing: Data(#"[true, 1, 1.5, "1", null, {}, []]"#.utf8))
        #expect(parsed == [true, 1, 1.5, "1", nil, [:], []])
        #expect(parsed[0] == .bool(true))
        #expect(parsed[1] == .integer(1))
        #expect(parsed[2] == .double(1.5))
    }

    @Test func nestedValuesRoundTrip() throws {
        let value: JSONValue = [
            "string": "ünïcödé \"quoted\" /slash", "array": [1, "two", [3.25], nil], "object": ["x": ["y": false]],
        ]
        #expect(try JSONValue(parsing: value.jsonData()) == value)
        #expect(!String(decoding: try value.jsonData(), as: UTF8.self).contains("\\/"))
    }

    @Test func accessorsReturnNilForOtherKinds() {
        let value: JSONValue = ["a": [10, "b"]]
        #expect(value["a"]?[0]?.int64Value == 10)
        #expect(value["a"]?[1]?.stringValue == "b")
        #expect(value["a"]?[2] == nil)
        #expect(value["missing"] == nil)
        #expect(value[0] == nil)
        #expect(value["a"]?.objectValue == nil)
        #expect(value.objectValue?.count == 1)
        #expect(JSONValue.double(2.0).int64Value == 2)
        #expect(JSONValue.double(2.5).int64Value == nil)
        #expect(JSONValue.integer(3).doubleValue == 3.0)
        #expect(JSONValue.string("true").boolValue == nil)
        #expect(JSONValue.null.isNull)
    }

    @Test func invalidJSONThrows() {
        #expect(throws: (any Error).self) { try JSONValue(parsing: Data("{\"a\":".utf8)) }
    }
}
