import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import LiveSettings
import Logging
import Testing

@Suite("VM tracer: the sync a successful ping asks for")
struct TracerPingTests {
    typealias F = TracerFixture

    @Test("scenario 48: a successful ping replies at once and enqueues one sync request to its own host service")
    func scenario48() async throws {
        try await F.with { fixture async throws in
            let trigger = VmSyncAfterPing(selfNode: fixture.membership.selfNode, settings: fixture.settings)
            let ping = PingHostHandler(
                hosts: fixture.inventory, caller: fixture.caller, settings: PingFixture.shortSettings,
                onPingSucceeded: trigger.onPingSucceeded, logger: Logger.quiet)
            let output = try await ping.handle(PingHostMsg(hostUuid: F.h1), context: context())
            let reply = try #require(output.reply as? PingHostReply)
            #expect(reply.connected)

            #expect(output.messages.count == 1)
            let message = try #require(output.messages.first)
            let service = ServiceID(service: "host", node: fixture.membership.selfNode).rawValue
            #expect(message.target == .service(service))
            let decoded = try EnvelopeCodec.decode(message.body, registry: SentByRound.registry)
            #expect(decoded.message as? VmSyncOnHostMsg == VmSyncOnHostMsg(hostUuid: F.h1))
            #expect(decoded.base.serviceId == service)
            #expect(decoded.base.headers.isNoReply)
            #expect(decoded.base.timeout == 120_000)
            // Not synced inline: the agent saw a ping and no /vm/vmsync.
            #expect(fixture.vmsyncRequests.isEmpty)
            #expect(fixture.agent.receivedRequests(path: KVMAgentPing.path).count == 1)
        }
    }

    @Test("scenario 13: kvm.vmSyncOnHostPing=false: a successful ping asks for no sync")
    func scenario13PingOff() async throws {
        try await F.with { fixture async throws in
            let trigger = VmSyncAfterPing(selfNode: fixture.membership.selfNode, settings: fixture.settings)
            let ping = PingHostHandler(
                hosts: fixture.inventory, caller: fixture.caller, settings: PingFixture.shortSettings,
                onPingSucceeded: trigger.onPingSucceeded, logger: Logger.quiet)
            try fixture.settings.syncOnPing.update(fromText: "false")
            let output = try await ping.handle(PingHostMsg(hostUuid: F.h1), context: context())
            #expect((output.reply as? PingHostReply)?.connected == true)
            #expect(output.messages.isEmpty)

            try fixture.settings.syncOnPing.update(fromText: "TRUE")
            #expect(try await ping.handle(PingHostMsg(hostUuid: F.h1), context: context()).messages.count == 1)
            #expect(throws: InvalidSettingValue.self) { try fixture.settings.syncOnPing.update(fromText: "yes") }
        }
    }

    @Test("a failed ping asks for no sync")
    func failedPingAsksNothing() async throws {
        try await F.with { fixture async throws in
            fixture.agent.setBehaviour(.fail(error: "down"), for: KVMAgentPing.path)
            let trigger = VmSyncAfterPing(selfNode: fixture.membership.selfNode, settings: fixture.settings)
            let ping = PingHostHandler(
                hosts: fixture.inventory, caller: fixture.caller,
                settings: PingSettings(timeout: .seconds(2), maxFailure: 1),
                onPingSucceeded: trigger.onPingSucceeded, logger: Logger.quiet)
            let output = try await ping.handle(PingHostMsg(hostUuid: F.h1), context: context())
            #expect((output.reply as? PingHostReply)?.connected == false)
            #expect(output.messages.isEmpty)
        }
    }
}
