import CloudBus

/// `cloudbus.worker.UpdateSettingMsg`: **ours, not ZStack's.** Changes one runtime setting of the worker that
/// receives it (any of its service queues), by ZStack's global-config name, e.g.
/// `{"name": "kvm.orphanedVmSkipTimeout", "value": "120"}`. Answered with ``UpdateSettingReply``; an unknown name or
/// an invalid value is refused with SYS.1007 and changes nothing. The change is not persisted: the configuration
/// file stays the source of the value at the next start.
public struct UpdateSettingMsg: BusMessage, Hashable {
    public static let className = "cloudbus.worker.UpdateSettingMsg"

    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// `cloudbus.worker.UpdateSettingReply`: the value before and after the change, in their text forms.
public struct UpdateSettingReply: BusReply, Hashable {
    public static let className = "cloudbus.worker.UpdateSettingReply"

    public var name: String?
    public var oldValue: String?
    public var newValue: String?
    @DefaultTrue public var success: Bool
    @DefaultFalse public var canceled: Bool
    public var error: ErrorCode?

    public init(name: String, oldValue: String, newValue: String) {
        self.name = name
        self.oldValue = oldValue
        self.newValue = newValue
        self.success = true
        self.canceled = false
        self.error = nil
    }
}
