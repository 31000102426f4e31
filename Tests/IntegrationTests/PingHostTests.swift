import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import Testing
import Worker

/// PingHostMsg end to end: a real AMQP request, the worker calling a real HTTP agent on loopback
/// with the async protocol (accept, then call back), the reply on the bus and the stored status.
@Suite("PingHostMsg through the broker", .enabled(if: TestBroker.available))
struct PingHostTests {
    private func host(_ uuid: String, port: Int, status: Inventory.HostStatus = .connected) -> HostRecord {
        HostRecord(uuid: uuid, managementIp: "127.0.0.1", agentPort: port, status: status)
    }

    @Test("a healthy agent: connected=true, the agent saw taskuuid and callbackurl")
    func healthyAgent() async throws {
        let agent = try await FakeKVMAgent.start()
        let harness = try await WorkerHarness.start()
        let hostUuid = MessageID.random()
        try await harness.inventory.upsertHosts([host(hostUuid, port: agent.port)])
        let reply = try await harness.call(PingHostMsg.className, ["hostUuid": .string(hostUuid)])
        #expect(reply.className == PingHostReply.className)
        #expect(reply.success)
        #expect(reply.fields["connected"]?.boolValue == true)
        #expect(reply.fields["currentHostStatus"]?.stringValue == "Connected")
        let requests = agent.receivedRequests(path: "/host/ping")
        #expect(requests.count == 1)
        await harness.stop()
        await agent.shutdown()
    }

    @Test("an agent that answers success=false on every try: connected=false with its error, host Disconnected")
    func agentFails() async throws {
        let agent = try await FakeKVMAgent.start()
        agent.setBehaviour(.fail(error: "libvirt is down"), for: "/host/ping")
        let harness = try await WorkerHarness.start()
        let hostUuid = MessageID.random()
        try await harness.inventory.upsertHosts([host(hostUuid, port: agent.port)])
        let reply = try await harness.call(PingHostMsg.className, ["hostUuid": .string(hostUuid)])
        #expect(reply.success) // ZStack answers a failed ping as a successful reply with connected=false
        #expect(reply.fields["connected"]?.boolValue == false)
        #expect(reply.fields["error"]?["details"]?.stringValue?.contains("libvirt is down") == true)
        #expect(agent.receivedRequests(path: "/host/ping").count == 3)
        let stored = try await harness.inventory.host(uuid: hostUuid)
        #expect(stored?.status == .disconnected)
        await harness.stop()
        await agent.shutdown()
    }

    @Test("a refusing agent and a hanging agent both get connected=false before the deadline")
    func deadAgents() async throws {
        let closed = try await ClosedLoopbackPort.make()
        let silent = try await SilentLoopbackListener.start()
        let harness = try await WorkerHarness.start()
        let refusing = MessageID.random(), hanging = MessageID.random()
        try await harness.inventory.upsertHosts([host(refusing, port: closed.port), host(hanging, port: silent.port)])
        for hostUuid in [refusing, hanging] {
            let reply = try await harness.call(PingHostMsg.className, [
                "hostUuid": .string(hostUuid), "timeout": .integer(6_000),
            ], timeout: .seconds(8))
            #expect(reply.className == PingHostReply.className, "host \(hostUuid): \(String(decoding: reply.raw, as: UTF8.self))")
            #expect(reply.fields["connected"]?.boolValue == false)
        }
        await harness.stop()
        await silent.close()
    }

    @Test("an unknown host: SYS.1007 error reply, dead-letter copy, worker keeps serving")
    func unknownHost() async throws {
        let harness = try await WorkerHarness.start()
        let probe = try await DeadLetterProbe.open()
        let reply = try await harness.call(PingHostMsg.className, ["hostUuid": .string(MessageID.random())])
        #expect(!reply.success)
        #expect(reply.errorCode == "SYS.1007")
        let id = try #require(reply.correlationId)
        let letter = try #require(try await probe.find { $0.header("x-cbw-message-id") == id })
        #expect(letter.header("x-cbw-reason") == "bad-request")
        #expect(letter.header("x-cbw-detail")?.contains("unknown-host") == true)
        let echo = try await harness.call(EchoMsg.className, ["payload": .string("alive")])
        #expect(echo.success)
        await probe.close()
        await harness.stop()
    }
}
