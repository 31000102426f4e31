import Inventory

/// How the VM handler classifies a host report that disagrees with the inventory (ZStack's
/// `VmAbnormalLifeCycleOperation`). ``first(matching:)`` checks the cases **in declaration order**, which is
/// ZStack's order, and the first match wins; the order matters because several predicates overlap (an
/// intermediate state reported Running is VmRunningFromIntermediateState even when the host changed).
///
/// "Same host" is Java's `currentHostUuid.equals(originalHostUuid)`, false for a VM without a stored host.
///
/// Quirk kept on purpose: ZStack gives ``vmRunningFromUnknownStateHostChanged`` the same predicate as
/// ``vmRunningFromUnknownStateHostNotChanged``, so it can never match; a VM stored Unknown on H1 and reported
/// Running by H2 therefore matches nothing and is answered "unknown VM abnormal state combination", exactly as a
/// Java management node answers it. The case stays in the list so the order and the count match ZStack's.
///
/// Where ZStack's predicate is not in the reference (marked *inferred* below), the name is read literally:
/// "HostNotChanged" means the same host, and for a Stopped VM (whose `hostUuid` ZStack clears) it means the
/// report comes from its last host.
public enum VmAbnormalLifeCycleOperation: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Running, Starting, NoState or Unknown, reported Stopped by the same host.
    case vmStoppedOnTheSameHost = "VmStoppedOnTheSameHost"
    /// An intermediate state (Destroying included) reported Running, by any host.
    case vmRunningFromIntermediateState = "VmRunningFromIntermediateState"
    /// An intermediate state reported Stopped, by any host. Destroying + Stopped lands here (PR #3330's edge).
    case vmStoppedFromIntermediateState = "VmStoppedFromIntermediateState"
    /// Unknown reported Paused by the same host.
    case vmPausedFromUnknownStateHostNotChanged = "VmPausedFromUnknownStateHostNotChanged"
    /// Unknown reported Running by the same host.
    case vmRunningFromUnknownStateHostNotChanged = "VmRunningFromUnknownStateHostNotChanged"
    /// Unreachable: ZStack's predicate is the previous case's (see the type's documentation).
    case vmRunningFromUnknownStateHostChanged = "VmRunningFromUnknownStateHostChanged"
    /// Unknown without a stored host, reported Stopped by its last host.
    case vmStoppedFromUnknownStateHostNotChanged = "VmStoppedFromUnknownStateHostNotChanged"
    /// Paused reported Stopped by the same host (*inferred*).
    case vmStoppedFromPausedStateHostNotChanged = "VmStoppedFromPausedStateHostNotChanged"
    /// Running on a stored host, reported Running by another host.
    case vmMigrateToAnotherHost = "VmMigrateToAnotherHost"
    /// Stopped reported Running or Paused, by any host.
    case vmRunningOnTheHost = "VmRunningOnTheHost"
    /// Destroyed reported Running or Paused: the host must destroy it.
    case vmRunningFromDestroyed = "VmRunningFromDestroyed"
    /// Running reported Paused by the same host (*inferred*).
    case vmPausedFromRunningStateHostNotChanged = "VmPausedFromRunningStateHostNotChanged"
    /// Paused reported Running by the same host (*inferred*).
    case vmRunningFromPausedStateHostNotChanged = "VmRunningFromPausedStateHostNotChanged"
    /// Migrating reported Paused by the same host (*inferred*).
    case vmPausedFromMigratingStateHostNotChanged = "VmPausedFromMigratingStateHostNotChanged"
    /// Running reported Crashed by the same host (*inferred*).
    case vmCrashedFromRunningStateHostNotChanged = "VmCrashedFromRunningStateHostNotChanged"
    /// Crashed reported Running by the same host (*inferred*).
    case vmRunningFromCrashedStateHostNotChanged = "VmRunningFromCrashedStateHostNotChanged"
    /// Running without a stored host, reported Running.
    case vmRunningWithoutOriginalHost = "VmRunningWithoutOriginalHost"
    /// Crashed reported Stopped by the same host (*inferred*).
    case vmStoppedFromCrashedStateHostNotChanged = "VmStoppedFromCrashedStateHostNotChanged"
    /// Running reported NoState by the same host (*inferred*).
    case vmNoStateFromRunningStateHostNotChanged = "VmNoStateFromRunningStateHostNotChanged"
    /// Crashed reported NoState by the same host (*inferred*).
    case vmNoStateFromCrashedStateHostNotChanged = "VmNoStateFromCrashedStateHostNotChanged"
    /// An intermediate state reported NoState, by any host (*inferred*).
    case vmNoStateFromIntermediateState = "VmNoStateFromIntermediateState"
    /// Stopped reported NoState by its last host (*inferred*).
    case vmNoStateFromStoppedStateHostNotChanged = "VmNoStateFromStoppedStateHostNotChanged"

    public var description: String { rawValue }

    /// The first operation, in ZStack's order, whose predicate holds; nil when none does (the handler answers
    /// "unknown VM abnormal state combination").
    public static func first(matching facts: VmAbnormalLifeCycleStruct) -> VmAbnormalLifeCycleOperation? {
        allCases.first { $0.matches(facts) }
    }

    /// This operation's predicate alone (ignoring the ones before it).
    public func matches(_ facts: VmAbnormalLifeCycleStruct) -> Bool {
        let original = facts.originalState
        let current = facts.currentState
        let same = facts.hostNotChanged
        switch self {
        case .vmStoppedOnTheSameHost:
            return [.running, .starting, .noState, .unknown].contains(original) && current == .stopped && same
        case .vmRunningFromIntermediateState:
            return original.isIntermediate && current == .running
        case .vmStoppedFromIntermediateState:
            return original.isIntermediate && current == .stopped
        case .vmPausedFromUnknownStateHostNotChanged:
            return original == .unknown && current == .paused && same
        case .vmRunningFromUnknownStateHostNotChanged, .vmRunningFromUnknownStateHostChanged:
            return original == .unknown && current == .running && same
        case .vmStoppedFromUnknownStateHostNotChanged:
            return original == .unknown && current == .stopped && facts.reportedByLastHost
        case .vmStoppedFromPausedStateHostNotChanged:
            return original == .paused && current == .stopped && same
        case .vmMigrateToAnotherHost:
            return original == .running && current == .running && facts.hostChanged
        case .vmRunningOnTheHost:
            return original == .stopped && (current == .running || current == .paused)
        case .vmRunningFromDestroyed:
            return original == .destroyed && (current == .running || current == .paused)
        case .vmPausedFromRunningStateHostNotChanged:
            return original == .running && current == .paused && same
        case .vmRunningFromPausedStateHostNotChanged:
            return original == .paused && current == .running && same
        case .vmPausedFromMigratingStateHostNotChanged:
            return original == .migrating && current == .paused && same
        case .vmCrashedFromRunningStateHostNotChanged:
            return original == .running && current == .crashed && same
        case .vmRunningFromCrashedStateHostNotChanged:
            return original == .crashed && current == .running && same
        case .vmRunningWithoutOriginalHost:
            return original == .running && current == .running && facts.originalHostUuid == nil
        case .vmStoppedFromCrashedStateHostNotChanged:
            return original == .crashed && current == .stopped && same
        case .vmNoStateFromRunningStateHostNotChanged:
            return original == .running && current == .noState && same
        case .vmNoStateFromCrashedStateHostNotChanged:
            return original == .crashed && current == .noState && same
        case .vmNoStateFromIntermediateState:
            return original.isIntermediate && current == .noState
        case .vmNoStateFromStoppedStateHostNotChanged:
            return original == .stopped && current == .noState && facts.reportedByLastHost
        }
    }

    /// What the handler does for this operation.
    public var action: VmAbnormalLifeCycleAction {
        switch self {
        case .vmRunningFromUnknownStateHostNotChanged, .vmRunningFromCrashedStateHostNotChanged,
            .vmRunningWithoutOriginalHost:
            return .updateInventory(.running, movesToReportingHost: true)
        case .vmNoStateFromRunningStateHostNotChanged, .vmNoStateFromCrashedStateHostNotChanged:
            return .updateInventory(.noState, movesToReportingHost: true)
        case .vmStoppedFromUnknownStateHostNotChanged, .vmStoppedFromPausedStateHostNotChanged,
            .vmStoppedFromCrashedStateHostNotChanged:
            return .updateInventory(.stopped, movesToReportingHost: false)
        case .vmPausedFromUnknownStateHostNotChanged, .vmPausedFromRunningStateHostNotChanged,
            .vmPausedFromMigratingStateHostNotChanged:
            return .updateInventory(.paused, movesToReportingHost: false)
        case .vmRunningFromPausedStateHostNotChanged:
            return .updateInventory(.running, movesToReportingHost: false)
        case .vmCrashedFromRunningStateHostNotChanged:
            return .updateInventory(.crashed, movesToReportingHost: false)
        case .vmRunningFromDestroyed:
            return .destroyOnHypervisor
        case .vmStoppedOnTheSameHost, .vmRunningFromIntermediateState, .vmStoppedFromIntermediateState,
            .vmRunningFromUnknownStateHostChanged, .vmMigrateToAnotherHost, .vmRunningOnTheHost,
            .vmNoStateFromIntermediateState, .vmNoStateFromStoppedStateHostNotChanged:
            return .abnormalLifeCycle
        }
    }
}

/// What ZStack's `vmStateChangeOnHost` does once the operation is known.
public enum VmAbnormalLifeCycleAction: Sendable, Hashable {
    /// Apply `event` to the inventory only; `movesToReportingHost` sets `hostUuid` to the reporting host first
    /// (ZStack's StoppedFromUnknown clears a host that is already nil, which the store's rule makes a no-op).
    case updateInventory(VmStateEvent, movesToReportingHost: Bool)
    /// Leave the inventory alone and ask the reporting host to destroy the VM (`DestroyVmOnHypervisorMsg`).
    case destroyOnHypervisor
    /// ZStack runs its `VmAbnormalLifeCycleExtensionPoint` chain (host capacity, DHCP, EIP, and HA in the premium
    /// module), then follows the host: Running and Paused move the VM to the reporting host, Stopped applies
    /// `stopped`, NoState leaves the inventory alone.
    case abnormalLifeCycle
}
