import CloudBus
import Foundation
import KVMMessages
import Primitives
import Testing
import Worker
import ZBSMessages

/// Every example in `schemas/` must satisfy its schema, decode with the Swift codec, and survive a round trip
/// unchanged; our own encoding of it must satisfy the schema too.
@Suite("Schema examples")
struct SchemaExamplesTests {
    @Test func schemaDirectoryHoldsOneSchemaPerSupportedMessage() {
        #expect(
            SchemaDirectory.schemaFileNames == [
                "CanonicalEvent.schema.json",
                "CheckVolumeClientsBeforeStartVmMsg.schema.json",
                "CheckVolumeClientsBeforeStartVmReply.schema.json",
                "CreateVolumeMsg.schema.json",
                "CreateVolumeReply.schema.json",
                "CreateVolumeSnapshotsMsg.schema.json",
                "CreateVolumeSnapshotsReply.schema.json",
                "DeleteVolumeMsg.schema.json",
                "DeleteVolumeReply.schema.json",
                "DeleteVolumeSnapshotMsg.schema.json",
                "DeleteVolumeSnapshotReply.schema.json",
                "DestroyVmOnHypervisorMsg.schema.json",
                "EchoMsg.schema.json",
                "EchoReply.schema.json",
                "ExpandVolumeMsg.schema.json",
                "ExpandVolumeReply.schema.json",
                "GetVolumeClientsMsg.schema.json",
                "GetVolumeClientsReply.schema.json",
                "GetZbsCapacityMsg.schema.json",
                "GetZbsCapacityReply.schema.json",
                "HostDisconnectedEvent.schema.json",
                "ManagementNodeLifeCycleEvent.schema.json",
                "MessageReply.schema.json",
                "PingHostMsg.schema.json",
                "PingHostReply.schema.json",
                "QueryVolumeMsg.schema.json",
                "QueryVolumeReply.schema.json",
                "ReconnectHostMsg.schema.json",
                "ReconnectHostReply.schema.json",
                "RollbackVolumeSnapshotMsg.schema.json",
                "RollbackVolumeSnapshotReply.schema.json",
                "StrangerVmFoundEvent.schema.json",
                "SyncVmDeviceInfoMsg.schema.json",
                "SyncVmDeviceInfoReply.schema.json",
                "UpdateSettingMsg.schema.json",
                "UpdateSettingReply.schema.json",
                "UpdateZbsPrimaryStorageMsg.schema.json",
                "UpdateZbsPrimaryStorageReply.schema.json",
                "VmContinueTraceEvent.schema.json",
                "VmFullStateChangedEvent.schema.json",
                "VmSkipTraceEvent.schema.json",
                "VmStateChangedOnHostMsg.schema.json",
                "VmStateChangedOnHostReply.schema.json",
                "VmStateInShutdownEvent.schema.json",
                "VmSyncOnHostMsg.schema.json",
                "VmTracerStateChangedEvent.schema.json",
            ])
    }

    @Test func readmeListsEverySchema() throws {
        let readme = String(
            decoding: try Data(contentsOf: SchemaDirectory.url.appendingPathComponent("README.md")), as: UTF8.self)
        for name in SchemaDirectory.schemaFileNames {
            #expect(readme.contains(name), "schemas/README.md does not mention \(name)")
        }
    }

    @Test(arguments: SchemaDirectory.schemaFileNames)
    func examplesValidateDecodeAndRoundTrip(fileName: String) throws {
        let schema = try JSONValue(parsing: SchemaDirectory.contents(of: fileName))
        let validator = JSONSchemaValidator(schema: schema)
        let schemaClass = try #require(schema["required"]?[0]?.stringValue, "\(fileName) names no envelope key")
        #expect(MessageCatalogue.all.type(named: schemaClass) != nil, "\(schemaClass) is not in the catalogue")
        let examples = try #require(schema["examples"]?.arrayValue)
        #expect(!examples.isEmpty, "\(fileName) has no examples")

        for (index, example) in examples.enumerated() {
            let violations = validator.validate(example)
            #expect(violations.isEmpty, "\(fileName) example \(index): \(violations)")
            #expect(example.objectValue?.keys.first == schemaClass)

            let original = try example.jsonData()
            let decoded = try EnvelopeCodec.decode(original, registry: MessageCatalogue.all)
            #expect(decoded.className == schemaClass)
            #expect(type(of: decoded.message).className == schemaClass)

            let reencoded = try Self.encode(decoded.message, base: decoded.base)
            #expect(try JSONValue(parsing: reencoded) == example, "\(fileName) example \(index) changed in a round trip")
            #expect(validator.validate(try JSONValue(parsing: reencoded)).isEmpty)

            let again = try EnvelopeCodec.decode(reencoded, registry: MessageCatalogue.all)
            #expect(again.base == decoded.base)
            let encodedAgain = try Self.encode(again.message, base: again.base)
            #expect(try JSONValue(parsing: encodedAgain) == JSONValue(parsing: reencoded), "encoding is not stable")

            if let event = decoded.typed(as: CanonicalEvent.self)?.message,
                event.path == ManagementNodeLifeCycleData.path
            {
                let data = try #require(try ManagementNodeLifeCycleData(event))
                #expect(data.nodeUuid == event.managementNodeId)
            }
        }
    }

    /// A schema must reject a broken copy of its own example; otherwise it checks nothing.
    @Test(arguments: SchemaDirectory.schemaFileNames)
    func schemaRejectsBrokenExamples(fileName: String) throws {
        let schema = try JSONValue(parsing: SchemaDirectory.contents(of: fileName))
        let validator = JSONSchemaValidator(schema: schema)
        let example = try #require(schema["examples"]?[0]?.objectValue)
        let (className, innerValue) = try #require(example.first)
        let inner = try #require(innerValue.objectValue)

        var badId = inner
        badId["id"] = "NOT-A-ZSTACK-ID"
        #expect(!validator.validate(.object([className: .object(badId)])).isEmpty)

        var noHeaders = inner
        noHeaders.removeValue(forKey: "headers")
        #expect(!validator.validate(.object([className: .object(noHeaders)])).isEmpty)

        #expect(!validator.validate(.object([className: .object(inner), "extra": 1])).isEmpty)
        #expect(!validator.validate(.object(["org.example.Other": .object(inner)])).isEmpty)
        #expect(!validator.validate(.array([.object(example)])).isEmpty)
    }

    /// Encodes an existential message by opening it.
    private static func encode(_ message: some BusMessage, base: MessageBase) throws -> Data {
        try EnvelopeCodec.encode(message, base: base)
    }
}
