import CloudBus
import Foundation
import Inventory
import KVM
import Testing

/// Scenarios 1–4 of the reference (§8 A) against the state machine alone.
@Suite("VM state machine")
struct VmStateMachineTests {
    /// The transition table of the reference (§1.3), copied as text and parsed here, so the test does not share a
    /// single line with the implementation it checks.
    static let referenceTable = """
        Created          : starting->Starting, destroying->Destroying, destroyed->Destroyed
        Starting         : running->Running, stopped->Stopped, paused->Paused, destroying->Destroying, unknown->Unknown
        Running          : running->Running, destroying->Destroying, stopping->Stopping, stopped->Stopped, rebooting->Rebooting, migrating->Migrating, volumeMigrating->Migrating, volumeRecovering->VolumeRecovering, pausing->Pausing, paused->Paused, crashed->Crashed, noState->NoState, unknown->Unknown
        Stopping         : stopped->Stopped, destroying->Destroying, running->Running, unknown->Unknown
        Stopped          : starting->Starting, stopped->Stopped, running->Running, paused->Paused, destroying->Destroying, volumeMigrating->VolumeMigrating, volumeRecovering->VolumeRecovering, noState->NoState, unknown->Unknown
        Migrating        : migrated->Running, volumeMigrated->Running, running->Running, paused->Paused, stopped->Stopped, noState->NoState, unknown->Unknown, destroying->Destroying
        VolumeMigrating  : volumeMigrated->Stopped, stopped->Stopped, noState->NoState, unknown->Unknown, destroying->Destroying
        VolumeRecovering : starting->VolumeRecovering, running->VolumeRecovering, volumeRecovering->VolumeRecovering, volumeRecovered->Running, stopping->Stopping, stopped->Stopped, noState->NoState, unknown->Unknown, destroying->Destroying
        Rebooting        : running->Running, stopped->Stopped, noState->NoState, unknown->Unknown, destroying->Destroying
        Paused           : resuming->Resuming, stopped->Stopped, running->Running, stopping->Stopping, destroying->Destroying, noState->NoState, unknown->Unknown, migrating->Migrating, volumeMigrated->Running
        Pausing          : paused->Paused, destroying->Destroying, running->Running, noState->NoState, unknown->Unknown
        Resuming         : running->Running, destroying->Destroying, paused->Paused, noState->NoState, unknown->Unknown
        Unknown          : destroying->Destroying, stopping->Stopping, unknown->Unknown, paused->Paused, running->Running, migrating->Migrating, noState->NoState, stopped->Stopped
        Destroying       : unknown->Unknown, destroyed->Destroyed, destroying->Destroying, running->Running, expunging->Expunging, stopped->Stopped
        Destroyed        : stopped->Stopped
        Crashed          : running->Running, unknown->Unknown, stopping->Stopping, stopped->Stopped, rebooting->Rebooting, crashed->Crashed, destroyed->Destroyed, noState->NoState, destroying->Destroying
        NoState          : running->Running, unknown->Unknown, stopping->Stopping, stopped->Stopped, rebooting->Rebooting, crashed->Crashed, destroyed->Destroyed, noState->NoState, destroying->Destroying
        Expunging        :
        Error            :
        """

    struct Edge: Hashable, CustomStringConvertible {
        var state: String
        var event: String
        var description: String { "\(state)+\(event)" }
    }

    static let expectedEdges: [Edge: String] = {
        var edges: [Edge: String] = [:]
        for line in referenceTable.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            let state = parts[0].trimmingCharacters(in: .whitespaces)
            let list = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            for item in list.split(separator: ",") where !item.isEmpty {
                let pair = item.trimmingCharacters(in: .whitespaces).split(separator: "->")
                edges[Edge(state: state, event: String(pair[0]))] = String(pair[1])
            }
        }
        return edges
    }()

    @Test("scenario 2: the reference table has 113 edges over 19 states, 17 of which have edges")
    func referenceTableShape() {
        #expect(Self.expectedEdges.count == 113)
        #expect(Set(Self.expectedEdges.keys.map(\.state)).count == 17)
        #expect(VmState.allCases.count == 19)
        #expect(VmStateEvent.allCases.count == 20)
        #expect(VmStateMachine.edgeCount == 113)
    }

    @Test("scenario 2: every (state, event) pair of 19×20 answers exactly as the reference table")
    func everyPairMatchesTheReference() {
        var checked = 0
        var accepted = 0
        for state in VmState.allCases {
            for event in VmStateEvent.allCases {
                checked += 1
                let expected = Self.expectedEdges[Edge(state: state.rawValue, event: event.rawValue)]
                do {
                    let next = try VmStateMachine.nextState(from: state, on: event)
                    accepted += 1
                    #expect(next.rawValue == expected, "\(state.rawValue)+\(event.rawValue)")
                } catch {
                    #expect(expected == nil, "\(state.rawValue)+\(event.rawValue) refused, reference: \(expected ?? "")")
                    #expect(error.current == state && error.event == event)
                    #expect(
                        error.description
                            == "cannot find next state for current state[\(state.rawValue)] on transaction event[\(event.rawValue)]")
                }
            }
        }
        #expect(checked == 380)
        #expect(accepted == 113)
    }

    @Test(
        "scenario 2: named pairs that must be refused",
        arguments: [
            (VmState.paused, VmStateEvent.paused), (.starting, .starting), (.created, .running),
            (.destroyed, .running), (.stopped, .stopping),
        ])
    func namedRefusals(state: VmState, event: VmStateEvent) {
        #expect(throws: VmTransitionError(current: state, event: event)) {
            try VmStateMachine.nextState(from: state, on: event)
        }
    }

    @Test("scenario 2: Expunging and Error are terminal for all 20 events")
    func terminalStates() {
        for state in [VmState.expunging, .error] {
            for event in VmStateEvent.allCases {
                #expect(throws: VmTransitionError.self) { try VmStateMachine.nextState(from: state, on: event) }
            }
        }
    }

    @Test("scenario 1 (edge): Destroying + stopped -> Stopped, the edge PR #3330 adds")
    func destroyingStopped() throws {
        #expect(try VmStateMachine.nextState(from: .destroying, on: .stopped) == .stopped)
    }

    @Test("scenario 3: Running + volumeMigrating -> Migrating (quirk), Destroyed + stopped -> Stopped")
    func quirks() throws {
        #expect(try VmStateMachine.nextState(from: .running, on: .volumeMigrating) == .migrating)
        #expect(try VmStateMachine.nextState(from: .stopped, on: .volumeMigrating) == .volumeMigrating)
        #expect(try VmStateMachine.nextState(from: .destroyed, on: .stopped) == .stopped)
        #expect(try VmStateMachine.nextState(from: .volumeRecovering, on: .running) == .volumeRecovering)
    }

    @Test("the intermediate list is ZStack's, Destroying included")
    func intermediateStates() {
        #expect(
            VmStateMachine.intermediateStates == [
                .starting, .stopping, .rebooting, .destroying, .migrating, .pausing, .resuming, .volumeMigrating,
                .volumeRecovering,
            ])
    }

    @Test("every state but Created and Error is driven by the event of its own name")
    func drivenEvents() {
        for state in VmState.allCases {
            switch state {
            case .created, .error: #expect(state.drivenEvent == nil)
            default:
                #expect(state.drivenEvent?.rawValue.lowercased() == state.rawValue.lowercased())
            }
        }
    }

    @Test("the transition error carries the VM and answers SYS.1006 with ZStack's wording")
    func transitionErrorCode() {
        let error = VmTransitionError(current: .expunging, event: .stopped, vmUuid: VmStateFixture.vm)
        #expect(error.errorCode.code == "SYS.1006")
        #expect(
            error.errorCode.details
                == "cannot find next state for current state[Expunging] on transaction event[stopped] of vm[uuid:\(VmStateFixture.vm)]")
    }
}
