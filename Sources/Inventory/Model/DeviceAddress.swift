/// The guest-visible bus location of one virtual device, as the KVM agent reads it from the libvirt domain XML
/// (ZStack's `DeviceAddress`): PCI devices fill `domain`/`bus`/`slot`/`function`, drives fill
/// `controller`/`bus`/`target`/`unit`.
///
/// All fields are strings, as on the wire; the store keeps the object as JSON, as ZStack does.
public struct DeviceAddress: Sendable, Hashable, Codable {
    /// For example "pci" or "drive".
    public var type: String?
    public var bus: String?
    public var domain: String?
    public var slot: String?
    public var function: String?
    public var controller: String?
    public var target: String?
    public var unit: String?

    public init(
        type: String? = nil, bus: String? = nil, domain: String? = nil, slot: String? = nil,
        function: String? = nil, controller: String? = nil, target: String? = nil, unit: String? = nil
    ) {
        self.type = type
        self.bus = bus
        self.domain = domain
        self.slot = slot
        self.function = function
        self.controller = controller
        self.target = target
        self.unit = unit
    }

    /// True when no field is set: ZStack skips such entries instead of storing them.
    public var isEmpty: Bool {
        [type, bus, domain, slot, function, controller, target, unit].allSatisfy { ($0 ?? "").isEmpty }
    }
}
