/// Content of the `/managementnode/lifecycle` canonical event
/// (`ManagementNodeCanonicalEvent$ManagementNodeLifeCycleData`): a node announces that it joined the ring after
/// starting, or that it is leaving. Membership of the hash ring follows these events (plus the DB heartbeat).
public struct ManagementNodeLifeCycleData: CanonicalEventContent, Hashable {
    public static let path = "/managementnode/lifecycle"
    public static let className =
        "org.zstack.header.managementnode.ManagementNodeCanonicalEvent$ManagementNodeLifeCycleData"

    public enum LifeCycle: String, Codable, Hashable, Sendable {
        case nodeJoin = "NodeJoin"
        case nodeLeft = "NodeLeft"
    }

    public var nodeUuid: String
    public var lifeCycle: LifeCycle
    public var inventory: ManagementNodeInventory?

    public init(nodeUuid: String, lifeCycle: LifeCycle, inventory: ManagementNodeInventory? = nil) {
        self.nodeUuid = nodeUuid
        self.lifeCycle = lifeCycle
        self.inventory = inventory
    }

    public var nestedSchema: [String: String] {
        inventory == nil ? [:] : ["inventory": ManagementNodeInventory.className]
    }

    /// The lifecycle data of `event`, nil when the event is on another path.
    /// - Throws: `DecodingError` when the path matches but the content is not lifecycle data.
    public init?(_ event: CanonicalEvent) throws {
        guard event.path == Self.path else { return nil }
        self = try event.content(as: ManagementNodeLifeCycleData.self)
    }
}

/// `org.zstack.header.managementnode.ManagementNodeInventory`. Dates stay in Gson's default text form
/// (e.g. `"Feb 28, 2025 7:06:57 PM"`), which carries no zone; they are informational only.
public struct ManagementNodeInventory: Codable, Hashable, Sendable {
    public static let className = "org.zstack.header.managementnode.ManagementNodeInventory"

    public var uuid: String
    public var hostName: String?
    public var joinDate: String?
    public var heartBeat: String?

    public init(uuid: String, hostName: String?, joinDate: String? = nil, heartBeat: String? = nil) {
        self.uuid = uuid
        self.hostName = hostName
        self.joinDate = joinDate
        self.heartBeat = heartBeat
    }
}
