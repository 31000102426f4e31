import AgentHTTP
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Logging
import MetricsTestKit
import Synchronization
import Testing

/// The real SQLite inventory, except that the test can make the host or the VM vanish at a moment it picks (as a
/// concurrent delete by another node would), without a store API for deletes.
final class VanishingInventory: DeviceInfoInventory {
    let base: SQLiteInventory
    let hostGone = Atomic<Bool>(false)
    let vmGone = Atomic<Bool>(false)

    init(_ base: SQLiteInventory) { self.base = base }

    func host(uuid: String) async throws -> HostRecord? {
        hostGone.load(ordering: .relaxed) ? nil : try await base.host(uuid: uuid)
    }
    func hosts() async throws -> [HostRecord] { try await base.hosts() }
    func upsertHosts(_ hosts: [HostRecord]) async throws { try await base.upsertHosts(hosts) }
    func updateHostStatus(uuid: String, to status: Inventory.HostStatus) async throws -> Inventory.HostStatus {
        try await base.updateHostStatus(uuid: uuid, to: status)
    }
    func vm(uuid: String) async throws -> VmRecord? {
        vmGone.load(ordering: .relaxed) ? nil : try await base.vm(uuid: uuid)
    }
    func upsertVms(_ vms: [VmRecord]) async throws { try await base.upsertVms(vms) }
    func expectedVms(onHost hostUuid: String, excludingTypes: Set<VmType>) async throws -> [VmRecord] {
        try await base.expectedVms(onHost: hostUuid, excludingTypes: excludingTypes)
    }
    func updateVm(uuid: String, _ change: @escaping @Sendable (inout VmRecord) throws -> Void) async throws -> VmUpdate {
        try await base.updateVm(uuid: uuid, change)
    }
    func updateVm(
        uuid: String, outboxKey: String, _ change: @escaping @Sendable (inout VmRecord) throws -> Void,
        messages: @escaping @Sendable (VmUpdate) throws -> [OutboxMessage]
    ) async throws -> (update: VmUpdate, outbox: [OutboxEntry]) {
        try await base.updateVm(uuid: uuid, outboxKey: outboxKey, change, messages: messages)
    }
    func updateHostStatus(
        uuid: String, to status: Inventory.HostStatus, outboxKey: String,
        messages: @escaping @Sendable (Inventory.HostStatus) throws -> [OutboxMessage]
    ) async throws -> (previous: Inventory.HostStatus, outbox: [OutboxEntry]) {
        try await base.updateHostStatus(uuid: uuid, to: status, outboxKey: outboxKey, messages: messages)
    }
    func upsertDeviceAddresses(_ addresses: [VmDeviceAddress]) async throws {
        try await base.upsertDeviceAddresses(addresses)
    }
    func deviceAddresses(ofVm vmUuid: String) async throws -> [VmDeviceAddress] {
        try await base.deviceAddresses(ofVm: vmUuid)
    }
    func replaceNics(ofVm vmUuid: String, with nics: [VmNicRecord]) async throws {
        try await base.replaceNics(ofVm: vmUuid, with: nics)
    }
    func nics(ofVm vmUuid: String) async throws -> [VmNicRecord] { try await base.nics(ofVm: vmUuid) }
    func saveVirtualizerInfo(_ info: VmVirtualizerInfo) async throws { try await base.saveVirtualizerInfo(info) }
    func virtualizerInfo(ofVm vmUuid: String) async throws -> VmVirtualizerInfo? {
        try await base.virtualizerInfo(ofVm: vmUuid)
    }
}

struct DeviceInfoFixture {
    let server: CallbackServer
    let agent: FakeKVMAgent
    let caller: AgentCaller
    let inventory: VanishingInventory
    let settings: DeviceInfoSettings
    let metrics: TestMetrics

    static let host = TracerFixture.h1
    static let vm = TracerFixture.vm(1)
    static let nic1 = "e0000000000000000000000000000001"
    static let nic2 = "e0000000000000000000000000000002"
    static let volume1 = "d0000000000000000000000000000001"
    static let volume2 = "d0000000000000000000000000000002"

    static func with<T>(_ body: (DeviceInfoFixture) async throws -> T) async throws -> T {
        let inventory = VanishingInventory(try SQLiteInventory.inMemory())
        return try await LoopbackKVMAgent.with { loopback in
            let fixture = DeviceInfoFixture(
                server: loopback.server, agent: loopback.agent, caller: loopback.caller, inventory: inventory,
                settings: DeviceInfoSettings(agentTimeout: .seconds(5), connectTimeout: .seconds(2)),
                metrics: TestMetrics())
            try await inventory.upsertHosts([
                HostRecord(uuid: host, managementIp: "127.0.0.1", agentPort: loopback.agent.port, status: .connected)])
            try await inventory.upsertVms([VmRecord(uuid: vm, state: .running, hostUuid: host)])
            try await inventory.replaceNics(ofVm: vm, with: [
                VmNicRecord(uuid: nic1, vmUuid: vm, mac: "52:54:00:aa:bb:01"),
                VmNicRecord(uuid: nic2, vmUuid: vm, mac: "52:54:00:aa:bb:02"),
            ])
            return try await body(fixture)
        }
    }

    var handler: SyncVmDeviceInfoHandler {
        SyncVmDeviceInfoHandler(
            inventory: inventory, caller: caller, settings: settings, metrics: metrics,
            logger: Logger.quiet)
    }

    func sync(host: String = DeviceInfoFixture.host, vm: String = DeviceInfoFixture.vm) async throws
        -> SyncVmDeviceInfoReply
    {
        let output = try await handler.handle(
            SyncVmDeviceInfoMsg(vmInstanceUuid: vm, hostUuid: host), context: context())
        #expect(output.messages.isEmpty)
        return try #require(output.reply as? SyncVmDeviceInfoReply)
    }

    /// Scripts the agent's answer for this fixture's host.
    func answer(_ json: String) {
        agent.setBehaviour(.answer(json: json), for: SyncVmDeviceInfoHandler.path, host: Self.host)
    }

    func addresses() async throws -> [String: DeviceAddress] {
        var byResource: [String: DeviceAddress] = [:]
        for entry in try await inventory.deviceAddresses(ofVm: Self.vm) { byResource[entry.resourceUuid] = entry.address }
        return byResource
    }

    static func pci(_ slot: String) -> String {
        #"{"type":"pci","domain":"0x0000","bus":"0x00","slot":"\#(slot)","function":"0x0"}"#
    }

    /// A complete answer: two disks, NICs by MAC (upper case for nic1, plus an unknown one), balloon, virtualizer.
    static func fullAnswer(diskSlot: String = "0x05") -> String {
        """
        {"success":true,
         "virtualDeviceInfoList":[
           {"resourceUuid":"\(volume1)","deviceAddress":\(pci(diskSlot))},
           {"resourceUuid":"\(volume2)","deviceAddress":{"type":"drive","controller":"0","bus":"0","target":"0","unit":"1"}},
           {"resourceUuid":"\(volume2)0","deviceAddress":\(pci("0x09"))},
           {"resourceUuid":"d0000000000000000000000000000003","deviceAddress":{}}
         ],
         "nicInfos":[
           {"macAddress":"52:54:00:AA:BB:01","deviceAddress":\(pci("0x03"))},
           {"macAddress":"52:54:00:ff:ff:ff","deviceAddress":\(pci("0x04"))}
         ],
         "memBalloonInfo":{"deviceAddress":\(pci("0x07"))},
         "virtualizerInfo":{"uuid":"\(vm)","virtualizer":"qemu-kvm","version":"6.2.0"}}
        """
    }
}
