import Inventory
import KVM
import Testing

/// The abnormal-lifecycle decision table (reference §2.7 step 6): ZStack's order, first match wins.
@Suite("VM abnormal-lifecycle decision table")
struct VmStateDecisionTableTests {
    static let h1 = VmStateFixture.h1
    static let h2 = VmStateFixture.h2

    static func facts(
        _ original: VmState, _ current: VmState, host: String? = h1, reportedBy: String = h1, lastHost: String? = nil
    ) -> VmAbnormalLifeCycleStruct {
        VmAbnormalLifeCycleStruct(
            originalState: original, currentState: current, originalHostUuid: host, currentHostUuid: reportedBy,
            lastHostUuid: lastHost)
    }

    @Test("the 22 operations are checked in ZStack's order")
    func order() {
        #expect(
            VmAbnormalLifeCycleOperation.allCases.map(\.rawValue) == [
                "VmStoppedOnTheSameHost", "VmRunningFromIntermediateState", "VmStoppedFromIntermediateState",
                "VmPausedFromUnknownStateHostNotChanged", "VmRunningFromUnknownStateHostNotChanged",
                "VmRunningFromUnknownStateHostChanged", "VmStoppedFromUnknownStateHostNotChanged",
                "VmStoppedFromPausedStateHostNotChanged", "VmMigrateToAnotherHost", "VmRunningOnTheHost",
                "VmRunningFromDestroyed", "VmPausedFromRunningStateHostNotChanged",
                "VmRunningFromPausedStateHostNotChanged", "VmPausedFromMigratingStateHostNotChanged",
                "VmCrashedFromRunningStateHostNotChanged", "VmRunningFromCrashedStateHostNotChanged",
                "VmRunningWithoutOriginalHost", "VmStoppedFromCrashedStateHostNotChanged",
                "VmNoStateFromRunningStateHostNotChanged", "VmNoStateFromCrashedStateHostNotChanged",
                "VmNoStateFromIntermediateState", "VmNoStateFromStoppedStateHostNotChanged",
            ])
    }

    /// One representative report per reachable operation, with what the first match must be.
    static let representatives: [(VmAbnormalLifeCycleStruct, VmAbnormalLifeCycleOperation)] = [
        (facts(.running, .stopped), .vmStoppedOnTheSameHost),
        (facts(.starting, .stopped), .vmStoppedOnTheSameHost),
        (facts(.unknown, .stopped), .vmStoppedOnTheSameHost),
        (facts(.noState, .stopped), .vmStoppedOnTheSameHost),
        (facts(.starting, .running, host: nil, reportedBy: h2), .vmRunningFromIntermediateState),
        (facts(.destroying, .running), .vmRunningFromIntermediateState),
        (facts(.destroying, .stopped), .vmStoppedFromIntermediateState),
        (facts(.starting, .stopped, host: nil, reportedBy: h1, lastHost: h1), .vmStoppedFromIntermediateState),
        (facts(.unknown, .paused), .vmPausedFromUnknownStateHostNotChanged),
        (facts(.unknown, .running), .vmRunningFromUnknownStateHostNotChanged),
        (facts(.unknown, .stopped, host: nil, lastHost: h1), .vmStoppedFromUnknownStateHostNotChanged),
        (facts(.paused, .stopped), .vmStoppedFromPausedStateHostNotChanged),
        (facts(.running, .running, host: h1, reportedBy: h2), .vmMigrateToAnotherHost),
        (facts(.stopped, .running, host: nil, reportedBy: h2, lastHost: h1), .vmRunningOnTheHost),
        (facts(.stopped, .paused, host: nil, lastHost: h1), .vmRunningOnTheHost),
        (facts(.destroyed, .running, host: nil), .vmRunningFromDestroyed),
        (facts(.destroyed, .paused, host: nil), .vmRunningFromDestroyed),
        (facts(.running, .paused), .vmPausedFromRunningStateHostNotChanged),
        (facts(.paused, .running), .vmRunningFromPausedStateHostNotChanged),
        (facts(.migrating, .paused), .vmPausedFromMigratingStateHostNotChanged),
        (facts(.running, .crashed), .vmCrashedFromRunningStateHostNotChanged),
        (facts(.crashed, .running), .vmRunningFromCrashedStateHostNotChanged),
        (facts(.running, .running, host: nil), .vmRunningWithoutOriginalHost),
        (facts(.crashed, .stopped), .vmStoppedFromCrashedStateHostNotChanged),
        (facts(.running, .noState), .vmNoStateFromRunningStateHostNotChanged),
        (facts(.crashed, .noState), .vmNoStateFromCrashedStateHostNotChanged),
        (facts(.starting, .noState, host: nil, reportedBy: h2), .vmNoStateFromIntermediateState),
        (facts(.stopped, .noState, host: nil, lastHost: h1), .vmNoStateFromStoppedStateHostNotChanged),
    ]

    @Test("each reachable operation is the first match of a representative report")
    func representativesMatch() {
        for (facts, operation) in Self.representatives {
            #expect(VmAbnormalLifeCycleOperation.first(matching: facts) == operation, "\(facts)")
        }
        let reached = Set(Self.representatives.map(\.1))
        #expect(reached == Set(VmAbnormalLifeCycleOperation.allCases).subtracting([.vmRunningFromUnknownStateHostChanged]))
    }

    @Test("order matters: a report matching several operations takes the earliest")
    func earliestWins() {
        // Starting reported Stopped by its own host: VmStoppedOnTheSameHost and VmStoppedFromIntermediateState.
        let startingStopped = Self.facts(.starting, .stopped)
        #expect(VmAbnormalLifeCycleOperation.vmStoppedFromIntermediateState.matches(startingStopped))
        #expect(VmAbnormalLifeCycleOperation.first(matching: startingStopped) == .vmStoppedOnTheSameHost)
        // Migrating reported Running on the same host is intermediate, not "from paused/crashed".
        #expect(VmAbnormalLifeCycleOperation.first(matching: Self.facts(.migrating, .running)) == .vmRunningFromIntermediateState)
        // Unknown reported Stopped by its own (stored) host: the same-host rule before StoppedFromUnknown.
        let unknownStopped = Self.facts(.unknown, .stopped, host: Self.h1, lastHost: Self.h1)
        #expect(VmAbnormalLifeCycleOperation.first(matching: unknownStopped) == .vmStoppedOnTheSameHost)
    }

    @Test("quirk: VmRunningFromUnknownStateHostChanged never matches first; Unknown on H1 reported Running by H2 matches nothing")
    func unreachableQuirk() {
        let sameHost = Self.facts(.unknown, .running)
        #expect(VmAbnormalLifeCycleOperation.vmRunningFromUnknownStateHostChanged.matches(sameHost))
        #expect(VmAbnormalLifeCycleOperation.first(matching: sameHost) == .vmRunningFromUnknownStateHostNotChanged)
        let otherHost = Self.facts(.unknown, .running, host: Self.h1, reportedBy: Self.h2)
        #expect(!VmAbnormalLifeCycleOperation.vmRunningFromUnknownStateHostChanged.matches(otherHost))
        #expect(VmAbnormalLifeCycleOperation.first(matching: otherHost) == nil)
    }

    @Test("combinations that match nothing")
    func noMatch() {
        #expect(VmAbnormalLifeCycleOperation.first(matching: Self.facts(.stopped, .stopped, host: nil)) == nil)
        #expect(VmAbnormalLifeCycleOperation.first(matching: Self.facts(.created, .running, host: nil)) == nil)
        #expect(VmAbnormalLifeCycleOperation.first(matching: Self.facts(.expunging, .running)) == nil)
        #expect(VmAbnormalLifeCycleOperation.first(matching: Self.facts(.paused, .stopped, reportedBy: Self.h2)) == nil)
        #expect(VmAbnormalLifeCycleOperation.first(matching: Self.facts(.running, .crashed, reportedBy: Self.h2)) == nil)
        // "HostNotChanged" for a VM without a stored host means "reported by its last host".
        let unknownElsewhere = Self.facts(.unknown, .stopped, host: nil, reportedBy: Self.h2, lastHost: Self.h1)
        #expect(VmAbnormalLifeCycleOperation.first(matching: unknownElsewhere) == nil)
        let stoppedElsewhere = Self.facts(.stopped, .noState, host: nil, reportedBy: Self.h2, lastHost: Self.h1)
        #expect(VmAbnormalLifeCycleOperation.first(matching: stoppedElsewhere) == nil)
    }

    @Test("actions: DB-only updates, destroy on the hypervisor, the abnormal-lifecycle path")
    func actions() {
        typealias Op = VmAbnormalLifeCycleOperation
        #expect(Op.vmRunningWithoutOriginalHost.action == .updateInventory(.running, movesToReportingHost: true))
        #expect(Op.vmRunningFromUnknownStateHostNotChanged.action == .updateInventory(.running, movesToReportingHost: true))
        #expect(Op.vmRunningFromCrashedStateHostNotChanged.action == .updateInventory(.running, movesToReportingHost: true))
        #expect(Op.vmNoStateFromRunningStateHostNotChanged.action == .updateInventory(.noState, movesToReportingHost: true))
        #expect(Op.vmNoStateFromCrashedStateHostNotChanged.action == .updateInventory(.noState, movesToReportingHost: true))
        #expect(Op.vmStoppedFromUnknownStateHostNotChanged.action == .updateInventory(.stopped, movesToReportingHost: false))
        #expect(Op.vmStoppedFromPausedStateHostNotChanged.action == .updateInventory(.stopped, movesToReportingHost: false))
        #expect(Op.vmStoppedFromCrashedStateHostNotChanged.action == .updateInventory(.stopped, movesToReportingHost: false))
        #expect(Op.vmPausedFromUnknownStateHostNotChanged.action == .updateInventory(.paused, movesToReportingHost: false))
        #expect(Op.vmPausedFromRunningStateHostNotChanged.action == .updateInventory(.paused, movesToReportingHost: false))
        #expect(Op.vmPausedFromMigratingStateHostNotChanged.action == .updateInventory(.paused, movesToReportingHost: false))
        #expect(Op.vmRunningFromPausedStateHostNotChanged.action == .updateInventory(.running, movesToReportingHost: false))
        #expect(Op.vmCrashedFromRunningStateHostNotChanged.action == .updateInventory(.crashed, movesToReportingHost: false))
        #expect(Op.vmRunningFromDestroyed.action == .destroyOnHypervisor)
        for op in [Op.vmStoppedOnTheSameHost, .vmRunningFromIntermediateState, .vmStoppedFromIntermediateState,
                   .vmRunningFromUnknownStateHostChanged, .vmMigrateToAnotherHost, .vmRunningOnTheHost,
                   .vmNoStateFromIntermediateState, .vmNoStateFromStoppedStateHostNotChanged] {
            #expect(op.action == .abnormalLifeCycle, "\(op)")
        }
    }
}
