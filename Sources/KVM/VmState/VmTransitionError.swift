import CloudBus
import Inventory

/// A state change the VM state machine does not allow: `event` has no edge out of `current`.
///
/// Thrown by ``VmStateMachine/nextState(from:on:)`` inside the store's update transaction, so the VM row is left
/// as it was. The description is ZStack's own wording, which operators grep for. Answered as SYS.1006.
public struct VmTransitionError: Error, Sendable, Hashable, CustomStringConvertible, ErrorCodeConvertible {
    public let current: VmState
    public let event: VmStateEvent
    /// The VM whose update was refused, when the caller knew it.
    public var vmUuid: String?

    public init(current: VmState, event: VmStateEvent, vmUuid: String? = nil) {
        self.current = current
        self.event = event
        self.vmUuid = vmUuid
    }

    public var description: String {
        let message = "cannot find next state for current state[\(current.rawValue)] on transaction event[\(event.rawValue)]"
        guard let vmUuid else { return message }
        return "\(message) of vm[uuid:\(vmUuid)]"
    }

    public var errorCode: ErrorCode { SysError.operationError.error(description) }
}
