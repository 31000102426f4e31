import CloudBus
import Primitives
import Testing

/// The validator must reject what each keyword forbids; otherwise the schema-example tests could pass vacuously.
@Suite("JSON Schema validator")
struct JSONSchemaValidatorTests {
    private func violations(_ schema: JSONValue, _ instance: JSONValue) -> [JSONSchemaValidator.Violation] {
        JSONSchemaValidator(schema: schema).validate(instance)
    }

    @Test func typeAcceptsMatchingAndRejectsOthers() {
        #expect(violations(["type": "string"], "x").isEmpty)
        #expect(violations(["type": "string"], 1).count == 1)
        #expect(violations(["type": "integer"], 5).isEmpty)
        #expect(violations(["type": "integer"], 5.0).isEmpty)
        #expect(violations(["type": "integer"], 5.5).count == 1)
        #expect(violations(["type": "number"], 5.5).isEmpty)
        #expect(violations(["type": "boolean"], "true").count == 1)
        #expect(violations(["type": "object"], []).count == 1)
        #expect(violations(["type": "array"], [:]).count == 1)
        #expect(violations(["type": "null"], .null).isEmpty)
        #expect(violations(["type": ["string", "null"]], .null).isEmpty)
        #expect(violations(["type": ["string", "null"]], 3).count == 1)
    }

    @Test func requiredReportsEachMissingMember() {
        let schema: JSONValue = ["required": ["a", "b"]]
        #expect(violations(schema, ["a": 1, "b": 2]).isEmpty)
        let found = violations(schema, ["c": 1])
        #expect(found.map(\.message).sorted() == ["missing required member 'a'", "missing required member 'b'"])
    }

    @Test func propertiesValidateNestedMembersWithTheirPath() {
        let schema: JSONValue = ["properties": ["a": ["properties": ["b": ["type": "integer"]]]]]
        #expect(violations(schema, ["a": ["b": 1]]).isEmpty)
        let found = violations(schema, ["a": ["b": "no"]])
        #expect(found.count == 1)
        #expect(found.first?.instancePath == "/a/b")
    }

    @Test func additionalPropertiesFalseRejectsUnnamedMembers() {
        let schema: JSONValue = ["properties": ["a": true], "additionalProperties": false]
        #expect(violations(schema, ["a": 1]).isEmpty)
        #expect(violations(schema, ["a": 1, "z": 2]).map(\.message) == ["member 'z' is not allowed"])
    }

    @Test func additionalPropertiesSchemaAppliesToUnnamedMembers() {
        let schema: JSONValue = ["additionalProperties": ["type": "string"]]
        #expect(violations(schema, ["x": "s"]).isEmpty)
        #expect(violations(schema, ["x": 1]).count == 1)
    }

    @Test func itemsAppliesToEveryElement() {
        let schema: JSONValue = ["items": ["type": "string"]]
        #expect(violations(schema, ["a", "b"]).isEmpty)
        let found = violations(schema, ["a", 2, "c", false])
        #expect(found.map(\.instancePath) == ["/1", "/3"])
    }

    @Test func enumAndConstCompareJSONValues() {
        #expect(violations(["enum": ["true", "false"]], "true").isEmpty)
        #expect(violations(["enum": ["true", "false"]], true).count == 1)
        #expect(violations(["const": "x"], "x").isEmpty)
        #expect(violations(["const": "x"], "y").count == 1)
        #expect(violations(["const": 1], 1.0).isEmpty)
        #expect(violations(["const": ["a": [1, 2]]], ["a": [1, 3]]).count == 1)
    }

    @Test func patternSearchesTheString() {
        let uuid: JSONValue = ["pattern": "^[0-9a-f]{32}$"]
        #expect(violations(uuid, "446d0be655ec32fc9922965af3bd984f").isEmpty)
        #expect(violations(uuid, "446D0BE655EC32FC9922965AF3BD984F").count == 1)
        #expect(violations(uuid, "446d0be6-55ec-32fc-9922-965af3bd984f").count == 1)
        #expect(violations(["pattern": "b"], "abc").isEmpty, "pattern is unanchored unless the schema anchors it")
        #expect(violations(["pattern": "("], "x").count == 1, "a pattern that does not compile is reported")
    }

    @Test func minLengthCountsCharacters() {
        #expect(violations(["minLength": 1], "a").isEmpty)
        #expect(violations(["minLength": 1], "").count == 1)
        #expect(violations(["minLength": 2], "é").count == 1)
    }

    @Test func refResolvesDefsInTheSameDocument() {
        let schema: JSONValue = [
            "$defs": ["id": ["type": "string", "minLength": 3]],
            "properties": ["id": ["$ref": "#/$defs/id"]],
        ]
        #expect(violations(schema, ["id": "abc"]).isEmpty)
        #expect(violations(schema, ["id": "ab"]).count == 1)
        #expect(violations(schema, ["id": 7]).count == 1)
    }

    @Test func unresolvableOrForeignRefIsAViolation() {
        #expect(violations(["$ref": "#/$defs/missing", "$defs": [:]], 1).count == 1)
        #expect(violations(["$ref": "other.json#/x"], 1).count == 1)
    }

    @Test func cyclicRefStopsWithAViolation() {
        let schema: JSONValue = ["$defs": ["loop": ["$ref": "#/$defs/loop"]], "$ref": "#/$defs/loop"]
        #expect(!violations(schema, 1).isEmpty)
    }

    @Test func unsupportedKeywordIsReportedNotIgnored() {
        #expect(violations(["maxLength": 2], "abc").map(\.message) == ["unsupported schema keyword 'maxLength'"])
        #expect(violations(["title": "t", "description": "d", "examples": []], "abc").isEmpty)
    }

    @Test func booleanSchemas() {
        #expect(violations(true, ["anything": 1]).isEmpty)
        #expect(violations(false, 1).count == 1)
    }
}
