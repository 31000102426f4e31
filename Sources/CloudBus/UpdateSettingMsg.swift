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
    public var success: Bool
    public var canceled: Bool
    public var error: ErrorCode?

    public init(name: String, oldValue: String, newValue: String) {
        self.name = name
        self.oldValue = oldValue
        self.newValue = newValue
        self.success = true
        self.canceled = false
        self.error = nil
    }

    enum CodingKeys: String, CodingKey { case name, oldValue, newValue, success, canceled, error }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        oldValue = try container.decodeIfPresent(String.self, forKey: .oldValue)
        newValue = try container.decodeIfPresent(String.self, forKey: .newValue)
        success = try container.decodeIfPresent(Bool.self, forKey: .success) ?? true
        canceled = try container.decodeIfPresent(Bool.self, forKey: .canceled) ?? false
        error = try container.decodeIfPresent(ErrorCode.self, forKey: .error)
    }
}
