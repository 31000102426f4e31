import AgentHTTP
import CloudBus
import Foundation
import Inventory
import KVMMessages
import LiveSettings
import Logging
import MetricHandles
import Metrics
import Primitives

/// Every store the device-info sync reads or writes.
public typealias DeviceInfoInventory = HostStore & VmStore & VmDeviceAddressStore & VmNicStore & VmVirtualizerInfoStore

/// Answers `SyncVmDeviceInfoMsg` as ZStack's `KVMHost` does: ask the host's agent (`/sync/vm/deviceinfo`, async,
/// `X-Resource-UUID: <hostUuid>`) where the VM's devices sit on the guest's buses, and record them.
///
/// Replies (``SyncVmDeviceInfoReply``):
/// - hostUuid or vmInstanceUuid not a ZStack uuid, or host not in the inventory: `BadRequest` (SYS.1007).
/// - The agent call failed (refused, timeouts, the agent raised): that error (SYS.1001 for a timeout, else
///   SYS.1006), nothing stored.
/// - The host row was deleted while the agent worked: SYS.1006 "host[uuid:H] has been deleted", nothing stored.
/// - The agent answered `success=false`: SYS.1006 carrying the agent's error, nothing stored. (ZStack still runs
///   its recording extensions on such an answer; this worker does not record from a failed answer.)
/// - Otherwise success, after recording (``DeviceAddressRecording``): disk, matched-NIC and balloon addresses
///   when `vm.enable.vm.address.recording` is true, and the virtualizer info. A VM deleted meanwhile, a null
///   balloon, an unknown MAC or a malformed item is skipped and logged, never an error.
///
/// Key `deviceinfo:<vmUuid>`: syncs of one VM apply in arrival order (an older answer never overwrites a newer
/// one), syncs of different VMs of a host run in parallel (ZStack runs the handler directly, without a host
/// queue), and none waits behind the host's pings (key `<hostUuid>`) or the VM's operations (key `<vmUuid>`).
public struct SyncVmDeviceInfoHandler: BusHandler {
    public typealias Message = SyncVmDeviceInfoMsg

    /// kvmagent's async device-info path.
    public static let path = "/sync/vm/deviceinfo"

    public let inventory: any DeviceInfoInventory
    public let caller: AgentCaller
    public let settings: DeviceInfoSettings
    private let failures: Counter
    private let malformedItems: Counter
    private let unrecordedItems: Counter
    private let logger: Logger

    /// - Parameter metrics: where the sync's families (``KVMMetrics``, `device_info_…`) are created, once, here.
    public init(
        inventory: any DeviceInfoInventory, caller: AgentCaller, settings: DeviceInfoSettings = DeviceInfoSettings(),
        metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        logger: Logger = Logger(label: "cloudbus.kvm.deviceinfo")
    ) {
        self.inventory = inventory
        self.caller = caller
        self.settings = settings
        self.failures = KVMMetrics.deviceInfoFailures.counter(factory: metrics)
        let skipped = KVMMetrics.deviceInfoItemsSkipped
        self.malformedItems = skipped.counter(KVMMetrics.DeviceItemSkipReason.malformed.rawValue, factory: metrics)
        self.unrecordedItems = skipped.counter(KVMMetrics.DeviceItemSkipReason.unrecorded.rawValue, factory: metrics)
        self.logger = logger
    }

    public var expectsReply: Bool { true }

    public func resourceKey(for message: SyncVmDeviceInfoMsg) -> String { Self.key(vmUuid: message.vmInstanceUuid) }
    /// Sent to the owner of the host (``VmDeviceInfoTrigger``), as ZStack does.
    public func ownedResource(for message: SyncVmDeviceInfoMsg) -> String? { message.hostUuid }

    /// `deviceinfo:<vmUuid>`.
    public static func key(vmUuid: String) -> String { "deviceinfo:\(vmUuid)" }

    public func handle(_ message: SyncVmDeviceInfoMsg, context: HandlerContext) async throws -> HandlerOutput {
        let hostUuid = message.hostUuid
        let vmUuid = message.vmInstanceUuid
        for (field, value) in [("hostUuid", hostUuid), ("vmInstanceUuid", vmUuid)]
        where !ZStackUUID.isWellFormed(value) {
            let details = "invalid \(field)[\(value)]: \(ZStackUUID.rule)"
            throw BadRequest(SysError.invalidArgument.error(details), reason: "invalid-\(field): \(details)")
        }
        guard let host = try await inventory.host(uuid: hostUuid) else {
            let details = "host[uuid:\(hostUuid)] not found in this worker's inventory"
            throw BadRequest(SysError.invalidArgument.error(details), reason: "unknown-host: \(details)")
        }
        var logger = logger
        logger[metadataKey: "host"] = "\(hostUuid)"
        logger[metadataKey: "vm"] = "\(vmUuid)"

        let endpoint = KVMAgentPing.endpoint(of: host)
        let budget = PingBudget(context: context).available(upTo: settings.agentTimeout)
        guard budget > .zero else {
            return failed(SysError.timeout.error(
                "no time left to sync device info of vm[uuid:\(vmUuid)] on host[uuid:\(hostUuid)]"), logger: logger)
        }
        let body: Data
        do {
            body = try await caller.callAsync(
                endpoint, path: Self.path, body: Self.command(vmUuid: vmUuid), timeout: budget,
                connectTimeout: min(settings.connectTimeout, budget), headers: ["X-Resource-UUID": hostUuid])
        } catch let error as AgentHTTPError {
            try Task.checkCancellation()
            let kind: SysError = error.isDeadline ? .timeout : .operationError
            return failed(kind.error(
                "unable to sync device info of vm[uuid:\(vmUuid)] on host[uuid:\(hostUuid)]: \(error)"), logger: logger)
        }
        guard try await inventory.host(uuid: hostUuid) != nil else {
            return failed(SysError.operationError.error("host[uuid:\(hostUuid)] has been deleted"), logger: logger)
        }
        guard let status = AgentResponseStatus(json: body) else {
            return failed(SysError.operationError.error(
                "agent \(endpoint) \(Self.path): answer is not a JSON object"), logger: logger)
        }
        guard status.success else {
            return failed(SysError.operationError.error(status.error ?? "the agent failed without an error"),
                          logger: logger)
        }
        let response: VmDevicesInfoResponse
        do {
            response = try VmDevicesInfoResponse(json: body)
        } catch {
            return failed(SysError.operationError.error(
                "agent \(endpoint) \(Self.path): malformed answer: \(error)"), logger: logger)
        }
        try await record(response, vmUuid: vmUuid, logger: logger)
        return HandlerOutput(reply: SyncVmDeviceInfoReply())
    }

    /// Stores what a successful answer says. Store failures other than "the VM is gone" are thrown (the worker
    /// answers SYS.1006).
    private func record(_ response: VmDevicesInfoResponse, vmUuid: String, logger: Logger) async throws {
        guard try await inventory.vm(uuid: vmUuid) != nil else {
            logger.info("device info not recorded: the VM is no longer in the inventory")
            return
        }
        if response.droppedItems > 0 {
            logger.warning("agent answer had malformed items; skipped", metadata: ["items": "\(response.droppedItems)"])
            malformedItems.increment(by: response.droppedItems)
        }
        do {
            if settings.addressRecording.value {
                let recording = DeviceAddressRecording(
                    vmUuid: vmUuid, response: response, nics: try await inventory.nics(ofVm: vmUuid))
                try await inventory.upsertDeviceAddresses(recording.addresses)
                if recording.skipped > 0 {
                    logger.debug("device entries not recorded", metadata: ["skipped": "\(recording.skipped)"])
                    unrecordedItems.increment(by: recording.skipped)
                }
            }
            if let info = response.virtualizerInfo, let virtualizer = info.virtualizer, let version = info.version {
                try await inventory.saveVirtualizerInfo(
                    VmVirtualizerInfo(vmUuid: vmUuid, virtualizer: virtualizer, version: version))
            }
        } catch InventoryError.notFound(.vm, _) {
            logger.info("device info recording stopped: the VM was deleted meanwhile")
        }
    }

    private func failed(_ error: ErrorCode, logger: Logger) -> HandlerOutput {
        logger.warning("device info sync failed", metadata: ["error": "\(error.details ?? error.code)"])
        failures.increment()
        return HandlerOutput(reply: SyncVmDeviceInfoReply(error: error))
    }

    /// `SyncVmDeviceInfoCmd {vmInstanceUuid}`.
    static func command(vmUuid: String) -> Data {
        (try? JSONBytesEncoder.data(["vmInstanceUuid": vmUuid])) ?? Data()
    }
}
