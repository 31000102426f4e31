import CloudBus
import Foundation
import KVMMessages
import Primitives
import Testing

@Suite("Canonical events")
struct CanonicalEventTests {
    @Test func decodesAJavaCanonicalEventAndRoundTrips() throws {
        let body = WireExamples.data(WireExamples.skipTraceEvent)
        let decoded = try EnvelopeCodec.decode(body, registry: WireExamples.registry)
        let envelope = try #require(decoded.typed(as: CanonicalEvent.self))
        #expect(envelope.message.path == "/vmTracer/skipTrace")
        #expect(envelope.message.content?["msgName"] == "org.zstack.header.vm.APIMigrateVmMsg")
        #expect(envelope.message.managementNodeId == WireExamples.nodeA)
        #expect(envelope.message.type == .canonicalEvent)
        #expect(envelope.base.serviceId == nil)
        #expect(envelope.base.headers.schema?["content"] == "org.zstack.header.vm.VmTracerCanonicalEvents$VmSkipTraceData")
        #expect(try JSONValue(parsing: envelope.encoded()) == JSONValue(parsing: body))
        #expect(try ManagementNodeLifeCycleData(envelope.message) == nil, "another path is not lifecycle data")
    }

    @Test func lifecycleJoinEventCarriesContentClassAndInventorySchema() throws {
        let data = ManagementNodeLifeCycleData(
            nodeUuid: WireExamples.nodeB, lifeCycle: .nodeJoin,
            inventory: ManagementNodeInventory(
                uuid: WireExamples.nodeB, hostName: "127.0.0.11", joinDate: "Feb 28, 2025 7:06:57 PM"))
        let envelope = try CanonicalEvent.envelope(content: data, managementNodeId: WireExamples.nodeB, now: 77)
        #expect(envelope.message.path == "/managementnode/lifecycle")
        #expect(
            envelope.base.headers.schema == [
                "content": "org.zstack.header.managementnode.ManagementNodeCanonicalEvent$ManagementNodeLifeCycleData",
                "content.inventory": "org.zstack.header.managementnode.ManagementNodeInventory",
            ])
        #expect(envelope.base.serviceId == nil)
        #expect(envelope.base.headers.correlationId == nil)
        #expect(envelope.base.headers.replyTo == nil)
        #expect(envelope.base.createdTime == 77)

        let wire = try JSONValue(parsing: envelope.encoded())
        let inner = try #require(wire[CanonicalEvent.className])
        #expect(inner["type"] == ["_name": "key.event.LOCAL.canonicalEvent"])
        #expect(inner["content"]?["lifeCycle"] == "NodeJoin")
        #expect(inner["content"]?["inventory"]?["hostName"] == "127.0.0.11")
        #expect(inner["content"]?["inventory"]?["heartBeat"] == nil, "nulls are omitted")

        let decoded = try EnvelopeCodec.decode(envelope.encoded(), registry: WireExamples.registry)
        let event = try #require(decoded.typed(as: CanonicalEvent.self)?.message)
        #expect(try ManagementNodeLifeCycleData(event) == data)
    }

    @Test func lifecycleLeftWithoutInventoryHasNoNestedSchemaEntry() throws {
        let data = ManagementNodeLifeCycleData(nodeUuid: WireExamples.nodeA, lifeCycle: .nodeLeft)
        let envelope = try CanonicalEvent.envelope(content: data, managementNodeId: WireExamples.nodeA)
        #expect(envelope.base.headers.schema == ["content": ManagementNodeLifeCycleData.className])
        #expect(try ManagementNodeLifeCycleData(envelope.message)?.lifeCycle == .nodeLeft)
    }

    @Test func unknownLifeCycleValueIsAnError() {
        let event = CanonicalEvent(
            path: ManagementNodeLifeCycleData.path,
            content: ["nodeUuid": .string(WireExamples.nodeA), "lifeCycle": "NodeRebooted"],
            managementNodeId: WireExamples.nodeA)
        #expect(throws: DecodingError.self) { try ManagementNodeLifeCycleData(event) }
    }

    @Test func stringContentHasNoSchemaEntry() throws {
        let envelope = CanonicalEvent.envelope(
            path: "/resource/unlock", content: "unlock-key", contentClass: nil, managementNodeId: WireExamples.nodeA)
        #expect(envelope.base.headers.schema == [:])
        #expect(try envelope.message.content(as: String.self) == "unlock-key")
        let noContent = CanonicalEvent.envelope(
            path: "/x", content: nil, contentClass: "org.example.Data", managementNodeId: WireExamples.nodeA)
        #expect(noContent.base.headers.schema == [:], "never list a null path in the schema")
    }

    @Test func routingKeyIsTheCanonicalEventType() {
        #expect(CanonicalEvent.routingKey == "key.event.LOCAL.canonicalEvent")
        #expect(EventType.canonicalEvent.name == CanonicalEvent.routingKey)
    }
}
