import CloudBus
import LiveSettings

/// How device-info syncs run.
public struct DeviceInfoSettings: Sendable {
    /// `vm.enable.vm.address.recording`: when false, answers are not recorded as addresses (the virtualizer info
    /// still is). Default: true.
    public let addressRecording: LiveSetting<Bool>
    /// Longest `/sync/vm/deviceinfo` round trip, cut to the message deadline. Default: 30 s.
    public var agentTimeout: Duration
    /// TCP connect budget of the agent call. Default: 5 s.
    public var connectTimeout: Duration

    public init(
        addressRecording: LiveSetting<Bool> = DeviceInfoSettings.addressRecordingSetting(),
        agentTimeout: Duration = .seconds(30),
        connectTimeout: Duration = .seconds(5)
    ) {
        self.addressRecording = addressRecording
        self.agentTimeout = agentTimeout
        self.connectTimeout = connectTimeout
    }

    /// `vm.enable.vm.address.recording`, boolean.
    public static func addressRecordingSetting(default initial: Bool = true) -> LiveSetting<Bool> {
        .boolean(name: "vm.enable.vm.address.recording", default: initial)
    }
}
