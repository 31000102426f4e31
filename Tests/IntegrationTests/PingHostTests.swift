import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Inventory
import KVMMessages
import Primitives
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
        try await FakeKVMAgent.withRunning { agent in
            try await withWorker { harness in
                let hostUuid = MessageID.random()
                try await harness.inventory.upsertHosts([host(hostUuid, port: agent.port)])
                let reply = try await harness.call(PingHostMsg.className, ["hostUuid": .string(hostUuid)])
                #expect(reply.className == PingHostReply.className)
                #expect(reply.success)
                #expect(reply.fields["connected"]?.boolValue == true)
                #expect(reply.fields["currentHostStatus"]?.stringValue == "Connected")
                let requests = agent.receivedRequests(path: "/host/ping")
                #expect(requests.count == 1)
            }
        }
    }

    @Test("an agent that answers success=false on every try: connected=false with its error, host Disconnected")
    func agentFails() async throws {
        try await FakeKVMAgent.withRunning { agent in
            agent.setBehaviour(.fail(error: "libvirt is down"), for: "/host/ping")
            try await withWorker { harness in
                let hostUuid = MessageID.random()
                try await harness.inventory.upsertHosts([host(hostUuid, port: agent.port)])
                let reply = try await harness.call(PingHostMsg.className, ["hostUuid": .string(hostUuid)])
                #expect(reply.success) // ZStack answers a failed ping as a successful reply with connected=false
                #expect(reply.fields["connected"]?.boolValue == false)
                #expect(reply.fields["error"]?["details"]?.stringValue?.contains("libvirt is down") == true)
                #expect(agent.receivedRequests(path: "/host/ping").count == 3)
                let stored = try await harness.inventory.host(uuid: hostUuid)
                #expect(stored?.status == .disconnected)
            }
        }
    }

    @Test("a refusing agent and a hanging agent both get connected=false before the deadline")
    func deadAgents() async throws {
        let closed = try await ClosedLoopbackPort.make()
        let silent = try await SilentLoopbackListener.start()
        try await withWorker { harness in
            let refusing = MessageID.random(), hanging = MessageID.random()
            try await harness.inventory.upsertHosts([host(refusing, port: closed.port), host(hanging, port: silent.port)])
            for hostUuid in [refusing, hanging] {
                let reply = try await harness.call(PingHostMsg.className, [
                    "hostUuid": .string(hostUuid), "timeout": .integer(6_000),
                ], timeout: .seconds(8))
                #expect(reply.className == PingHostReply.className, "host \(hostUuid): \(String(decoding: reply.raw, as: UTF8.self))")
                #expect(reply.fields["connected"]?.boolValue == false)
            }
        }
        await silent.close()
    }

    @Test("an unknown host: SYS.1007 error reply, dead-letter copy, worker keeps serving")
    func unknownHost() async throws {
        try await withWorker { harness in
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
        }
    }
}

/// Scenarios 49 and 51 end to end: what a failed or mismatched ping sends on the bus besides its reply.
@Suite("Ping side effects on the bus", .enabled(if: TestBroker.available))
struct PingSideEffectTests {
    @Test("scenario 51: a host that stops answering fires /host/disconnected once, not again while Disconnected")
    func disconnectEventOnce() async throws {
        try await FakeKVMAgent.withRunning { agent in
            agent.setBehaviour(.fail(error: "libvirt is down"), for: "/host/ping")
            let events = try await EventProbe.open()
            try await withWorker { harness in
                let hostUuid = MessageID.random()
                try await harness.inventory.upsertHosts([
                    HostRecord(uuid: hostUuid, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected),
                ])
                for _ in 0..<2 {
                    let reply = try await harness.call(PingHostMsg.className, ["hostUuid": .string(hostUuid)])
                    #expect(reply.fields["connected"]?.boolValue == false)
                }
                let fired = await events.waitFor(HostDisconnectedData.path) { $0["hostUuid"]?.stringValue == hostUuid }
                #expect(fired?.managementNodeId == harness.node.rawValue)
                #expect(fired?.content["reason"]?["details"]?.stringValue?.contains("libvirt is down") == true)
                // Both replies were confirmed before they were sent, and so was the event of the first: one event only.
                #expect(events.events(HostDisconnectedData.path) { $0["hostUuid"]?.stringValue == hostUuid }.count == 1)
            }
            await events.close()
        }
    }

    @Test("scenario 49: an agent serving another host: no VM sync, host Disconnected, ReconnectHostMsg handled by the owner")
    func mismatchReconnects() async throws {
        try await FakeKVMAgent.withRunning { agent in
            let impostor = MessageID.random()
            agent.setBehaviour(.answer(json: #"{"success":true,"hostUuid":"\#(impostor)"}"#), for: "/host/ping")
            try await withWorker { harness in
                let hostUuid = MessageID.random()
                try await harness.inventory.upsertHosts([
                    HostRecord(uuid: hostUuid, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected),
                ])
                let reply = try await harness.call(PingHostMsg.className, ["hostUuid": .string(hostUuid)])
                #expect(reply.fields["connected"]?.boolValue == false)
                #expect(reply.fields["error"]?["details"]?.stringValue?.contains("host uuid mismatch") == true)
                // The worker owns the host (it is alone on its ring), so it receives its own ReconnectHostMsg and pings the
                // agent again: two pings in all, and the host stays Disconnected because the agent still serves another host.
                #expect(try await eventually { agent.receivedRequests(path: "/host/ping").count == 2 })
                // The reconnect goes Connecting, pings, and settles Disconnected: wait for it to settle.
                var status = try await harness.inventory.host(uuid: hostUuid)?.status
                for _ in 0..<500 where status != .disconnected {
                    try await Task.sleep(for: .milliseconds(10))
                    status = try await harness.inventory.host(uuid: hostUuid)?.status
                }
                #expect(status == .disconnected)
                #expect(agent.receivedRequests(path: "/vm/vmsync").isEmpty)
            }
        }
    }
}
