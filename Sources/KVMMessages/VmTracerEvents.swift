import CloudBus
import Primitives

/// Content of `/vmTracer/skipTrace` (`VmTracerCanonicalEvents$VmSkipTraceData`): node `managementNodeId` started
/// an operation on `vmUuid` that the tracers of every node must leave alone until the matching continue-trace.
/// `apiId` is set for API messages only (it is the API message's id).
public struct VmSkipTraceData: CanonicalEventContent, Hashable {
    public static let path = "/vmTracer/skipTrace"
    public static let className = "org.zstack.header.vm.VmTracerCanonicalEvents$VmSkipTraceData"

    public var vmUuid: String
    public var apiId: String?
    public var msgName: String?
    public var managementNodeId: String

    public init(vmUuid: String, apiId: String? = nil, msgName: String? = nil, managementNodeId: String) {
        self.vmUuid = vmUuid
        self.apiId = apiId
        self.msgName = msgName
        self.managementNodeId = managementNodeId
    }

    public var nestedSchema: [String: String] { [:] }
}

/// Content of `/vmTrace/continueTrace` (note `/vmTrace/`, not `/vmTracer/`): the operation that a skip-trace
/// announced has ended (its reply was sent or dropped). `vmUuid` may be nil when the sender only knew the API id.
public struct VmContinueTraceData: CanonicalEventContent, Hashable {
    public static let path = "/vmTrace/continueTrace"
    public static let className = "org.zstack.header.vm.VmTracerCanonicalEvents$VmContinueTraceData"

    public var vmUuid: String?
    public var apiId: String?
    public var managementNodeId: String

    public init(vmUuid: String?, apiId: String? = nil, managementNodeId: String) {
        self.vmUuid = vmUuid
        self.apiId = apiId
        self.managementNodeId = managementNodeId
    }

    public var nestedSchema: [String: String] { [:] }
}

/// Content of `/vmTracer/vmStateChanged`: the VM handler changed a VM's state because of what a host reported
/// (HA and the UI listen to it).
public struct VmTracerStateChangedData: CanonicalEventContent, Hashable {
    public static let path = "/vmTracer/vmStateChanged"
    public static let className = "org.zstack.header.vm.VmTracerCanonicalEvents$VmStateChangedOnHostData"

    public var vmUuid: String
    public var from: String
    public var to: String
    public var originalHostUuid: String?
    public var currentHostUuid: String?

    public init(vmUuid: String, from: String, to: String, originalHostUuid: String?, currentHostUuid: String?) {
        self.vmUuid = vmUuid
        self.from = from
        self.to = to
        self.originalHostUuid = originalHostUuid
        self.currentHostUuid = currentHostUuid
    }

    public var nestedSchema: [String: String] { [:] }
}

/// Content of `/vmTracer/strangerVmFound`: a host runs a VM the inventory does not know. Fired once per
/// (VM, host) while the tracer remembers it.
public struct StrangerVmFoundData: CanonicalEventContent, Hashable {
    public static let path = "/vmTracer/strangerVmFound"
    public static let className = "org.zstack.header.vm.VmTracerCanonicalEvents$StrangerVmFoundData"

    public var vmIdentity: String
    public var hostUuid: String
    public var vmState: String

    public init(vmIdentity: String, hostUuid: String, vmState: String) {
        self.vmIdentity = vmIdentity
        self.hostUuid = hostUuid
        self.vmState = vmState
    }

    public var nestedSchema: [String: String] { [:] }
}

/// Content of `/vmTracer/vmStateInShutdown`: a VM has been reported going down on its host for 11 syncs in a row.
public struct VmStateInShutdownData: CanonicalEventContent, Hashable {
    public static let path = "/vmTracer/vmStateInShutdown"
    public static let className = "org.zstack.header.vm.VmTracerCanonicalEvents$VmStateInShutdownData"

    public var vmUuid: String
    public var reason: String

    public init(vmUuid: String, reason: String) {
        self.vmUuid = vmUuid
        self.reason = reason
    }

    public var nestedSchema: [String: String] { [:] }
}

/// Content of `/vm/state/change` (`VmCanonicalEvents$VmStateChangedData`, ZStack's `VM_FULL_STATE_CHANGED_PATH`):
/// a VM's state changed in the database. Fired by whichever node changed it (this worker included); no event for
/// a self-loop. `inventory` is ZStack's `VmInstanceInventory` as JSON (this worker reads `uuid`, `state`,
/// `hostUuid`, `lastHostUuid`, `type`, `clusterUuid` from it).
public struct VmFullStateChangedData: CanonicalEventContent, Hashable {
    public static let path = "/vm/state/change"
    public static let className = "org.zstack.header.vm.VmCanonicalEvents$VmStateChangedData"
    public static let inventoryClassName = "org.zstack.header.vm.VmInstanceInventory"

    public var vmUuid: String
    public var oldState: String?
    public var newState: String
    public var inventory: JSONValue?

    public init(vmUuid: String, oldState: String?, newState: String, inventory: JSONValue?) {
        self.vmUuid = vmUuid
        self.oldState = oldState
        self.newState = newState
        self.inventory = inventory
    }

    public var nestedSchema: [String: String] {
        inventory == nil || inventory == .null ? [:] : ["inventory": Self.inventoryClassName]
    }
}
