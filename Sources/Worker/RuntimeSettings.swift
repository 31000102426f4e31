import CloudBus
import KVM
import LiveSettings

/// The settings an operator may change while the worker runs, created from the configuration at start and shared
/// with the handlers that read them (which read them at each decision, so a change applies at once).
///
/// Changed by `cloudbus.worker.UpdateSettingMsg` and by ZStack's global-config update events
/// (`/globalConfig/update/<category>/<name>`); see ``SettingUpdateHandler`` and ``GlobalConfigSubscriber``.
public struct RuntimeSettings: Sendable {
    /// `kvm.orphanedVmSkipTimeout`, seconds > 0.
    public let orphanedVmSkipTimeout: LiveSetting<Duration>
    /// `kvm.vmSyncOnHostPing`.
    public let vmSyncOnHostPing: LiveSetting<Bool>
    /// `VM_TRACER_ON` (`vm.tracer.on` here, since ZStack has it as a property, not a global config).
    public let vmTracerOn: LiveSetting<Bool>
    /// `vm.enable.vm.address.recording`.
    public let vmAddressRecording: LiveSetting<Bool>

    /// Each setting is made by the factory of the module that reads it, so a name and its rule live in one place.
    public init(configuration: WorkerConfiguration) {
        orphanedVmSkipTimeout = SkipRegistry.timeoutSetting(
            default: Int64(configuration.kvm.orphanedVmSkipTimeoutSeconds))
        vmSyncOnHostPing = VmTracerSettings.syncOnPingSetting(default: configuration.kvm.vmSyncOnHostPing)
        vmTracerOn = VmTracerSettings.tracerOnSetting(default: configuration.kvm.vmTracerOn)
        vmAddressRecording = DeviceInfoSettings.addressRecordingSetting(default: configuration.kvm.vmAddressRecording)
    }

    /// Every setting by name.
    public var all: [String: any NamedSetting] {
        let list: [any NamedSetting] = [orphanedVmSkipTimeout, vmSyncOnHostPing, vmTracerOn, vmAddressRecording]
        return Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
    }
}
