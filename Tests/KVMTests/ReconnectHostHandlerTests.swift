import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Testing

@Suite("ReconnectHostHandler over loopback HTTP")
struct ReconnectHostHandlerTests {
    private func reconnect(_ fixture: PingFixture, skipIfConnected: Bool? = nil) async throws -> ReconnectHostReply {
        let handler = ReconnectHostHandler(hosts: fixture.inventory, caller: fixture.caller,
                                           settings: PingFixture.shortSettings)
        let output = try await handler.handle(
            ReconnectHostMsg(hostUuid: PingFixture.hostUuid, skipIfHostConnected: skipIfConnected), context: context())
        return try #require(output.reply as? ReconnectHostReply)
    }

    @Test("a Disconnected host whose agent answers for it becomes Connected")
    func answersForItself() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost(status: .disconnected)
            let reply = try await reconnect(fixture)
            #expect(reply.success)
            #expect(try await fixture.storedStatus() == .connected)
            #expect(fixture.pings.count == 1)
        }
    }

    @Test("an agent answering for another host leaves the host Disconnected with the mismatch as the cause")
    func answersForAnotherHost() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost(status: .disconnected)
            fixture.agent.setBehaviour(
                .answer(json: #"{"success":true,"hostUuid":"\#(PingFixture.otherHostUuid)"}"#), for: KVMAgentPing.path)
            let reply = try await reconnect(fixture)
            #expect(!reply.success)
            #expect(reply.error?.code == "SYS.1006")
            #expect(reply.error?.cause?.details?.contains("host uuid mismatch") == true)
            #expect(try await fixture.storedStatus() == .disconnected)
        }
    }

    @Test("skipIfHostConnected on a Connected host contacts nobody")
    func skipsConnected() async throws {
        try await PingFixture.with { fixture in
            try await fixture.addHost(status: .connected)
            let reply = try await reconnect(fixture, skipIfConnected: true)
            #expect(reply.success)
            #expect(fixture.pings.isEmpty)
        }
    }

    @Test("an unknown host is a bad request")
    func unknownHost() async throws {
        _ = try await PingFixture.with { fixture in
            await #expect(throws: BadRequest.self) { _ = try await reconnect(fixture) }
        }
    }
}
