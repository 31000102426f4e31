import Inventory
import Testing

@Suite("VmStore")
struct VmStoreTests {
    private let h = hostUuid(1)
    private let other = hostUuid(2)

    @Test(arguments: StoreBackend.available) func upsertThenGetRoundTripsEveryField(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let vm = VmRecord(
                uuid: vmUuid(1), state: .migrating, hostUuid: h, lastHostUuid: other, type: .applianceVm,
                clusterUuid: clusterUuid(1))
            try await inventory.upsertVms([vm])
            #expect(try await inventory.vm(uuid: vmUuid(1)) == vm)
            #expect(try await inventory.vm(uuid: vmUuid(2)) == nil)
        }
    }

    @Test(arguments: StoreBackend.available) func upsertWithOneInvalidVmStoresNone(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let error = await #expect(throws: InventoryError.self) {
                try await inventory.upsertVms([
                    VmRecord(uuid: vmUuid(1), state: .running, hostUuid: h),
                    VmRecord(uuid: vmUuid(2), state: .running, hostUuid: "NOT-A-UUID"),
                ])
            }
            #expect(error.flatMap(problemLocations) == ["vm.hostUuid"])
            #expect(try await inventory.vm(uuid: vmUuid(1)) == nil)
        }
    }

    // MARK: expectedVms — reference §2.5

    /// A VM on H is expected in every one of the 19 states, Destroying, Destroyed and Expunging included: the
    /// state filter binds to the last-host branch only.
    @Test(arguments: VmState.allCases, StoreBackend.available)
    func vmOnTheHostIsExpectedInEveryState(_ state: VmState, _ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertVms([VmRecord(uuid: vmUuid(1), state: state, hostUuid: h, lastHostUuid: other)])
            #expect(try await inventory.expectedVms(onHost: h).map(\.uuid) == [vmUuid(1)])
            #expect(try await inventory.expectedVms(onHost: other).isEmpty, "hostUuid wins over lastHostUuid")
        }
    }

    /// A hostless VM whose last host is H is expected on H unless it is Destroyed or Destroying.
    @Test(arguments: VmState.allCases, StoreBackend.available)
    func hostlessVmIsExpectedOnItsLastHostUnlessDestroyedOrDestroying(_ state: VmState, _ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertVms([VmRecord(uuid: vmUuid(1), state: state, lastHostUuid: h)])
            let expected = try await inventory.expectedVms(onHost: h)
            if state == .destroyed || state == .destroying {
                #expect(expected.isEmpty)
            } else {
                #expect(expected == [VmRecord(uuid: vmUuid(1), state: state, lastHostUuid: h)])
            }
        }
    }

    @Test(arguments: StoreBackend.available) func expectedVmsFollowsTheRuleOnAMixedHost(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertVms([
                VmRecord(uuid: vmUuid(1), state: .running, hostUuid: h),
                VmRecord(uuid: vmUuid(2), state: .destroying, hostUuid: h),  // on H: expected even while destroying
                VmRecord(uuid: vmUuid(3), state: .expunging, hostUuid: h),  // on H: expected
                VmRecord(uuid: vmUuid(4), state: .stopped, lastHostUuid: h),  // last on H: expected
                VmRecord(uuid: vmUuid(5), state: .starting, lastHostUuid: h),  // starting elsewhere: still expected on H
                VmRecord(uuid: vmUuid(6), state: .destroyed, lastHostUuid: h),  // last on H but destroyed: not expected
                VmRecord(uuid: vmUuid(7), state: .running, hostUuid: other, lastHostUuid: h),  // moved away: not on H
                VmRecord(uuid: vmUuid(8), state: .stopped),  // never placed: nowhere
                VmRecord(uuid: vmUuid(9), state: .running, hostUuid: other),
            ])
            #expect(try await inventory.expectedVms(onHost: h).map(\.uuid) == (1...5).map(vmUuid))
            #expect(try await inventory.expectedVms(onHost: other).map(\.uuid) == [vmUuid(7), vmUuid(9)])
            #expect(try await inventory.expectedVms(onHost: hostUuid(3)).isEmpty)
        }
    }

    /// ZStack appends the unsupported-type filter to the same AND chain, so it too binds to the last-host branch:
    /// an excluded type still counts when the VM is on H.
    @Test(arguments: StoreBackend.available) func excludedTypesOnlyDropHostlessVms(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertVms([
                VmRecord(uuid: vmUuid(1), state: .running, hostUuid: h, type: .applianceVm),
                VmRecord(uuid: vmUuid(2), state: .stopped, lastHostUuid: h, type: .applianceVm),
                VmRecord(uuid: vmUuid(3), state: .stopped, lastHostUuid: h, type: "Baremetal2Vm"),
                VmRecord(uuid: vmUuid(4), state: .stopped, lastHostUuid: h, type: .userVm),
            ])
            let excluded = try await inventory.expectedVms(onHost: h, excludingTypes: [.applianceVm, "Baremetal2Vm"])
            #expect(excluded.map(\.uuid) == [vmUuid(1), vmUuid(4)])
            #expect(try await inventory.expectedVms(onHost: h).map(\.uuid) == (1...4).map(vmUuid))
        }
    }

    @Test(arguments: StoreBackend.available) func expectedVmsFollowsStateUpdates(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertVms([VmRecord(uuid: vmUuid(1), state: .running, hostUuid: h)])
            try await inventory.updateVmState(uuid: vmUuid(1), to: .stopped)
            #expect(try await inventory.expectedVms(onHost: h).map(\.uuid) == [vmUuid(1)])
            try await inventory.updateVmState(uuid: vmUuid(1), to: .starting)
            try await inventory.updateVmState(uuid: vmUuid(1), to: .running, host: .move(to: other))
            #expect(try await inventory.expectedVms(onHost: h).isEmpty)
            #expect(try await inventory.expectedVms(onHost: other).map(\.uuid) == [vmUuid(1)])
            try await inventory.updateVmState(uuid: vmUuid(1), to: .destroyed)
            #expect(try await inventory.expectedVms(onHost: other).isEmpty)
        }
    }

    // MARK: updateVm — reference §1.4

    @Test(arguments: [VmState.stopped, .destroyed], StoreBackend.available)
    func stateThatReleasesTheHostMovesHostUuidToLastHostUuid(_ state: VmState, _ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertVms([VmRecord(uuid: vmUuid(1), state: .running, hostUuid: h, lastHostUuid: other)])
            let update = try await inventory.updateVmState(uuid: vmUuid(1), to: state)
            let after = VmRecord(uuid: vmUuid(1), state: state, hostUuid: nil, lastHostUuid: h)
            #expect(update.before == VmRecord(uuid: vmUuid(1), state: .running, hostUuid: h, lastHostUuid: other))
            #expect(update.after == after)
            #expect(update.stateChanged)
            #expect(try await inventory.vm(uuid: vmUuid(1)) == after)
        }
    }

    @Test(arguments: StoreBackend.available) func otherStatesKeepTheHostAndAMoveSetsIt(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertVms([VmRecord(uuid: vmUuid(1), state: .stopped, lastHostUuid: h)])
            let started = try await inventory.updateVmState(uuid: vmUuid(1), to: .running, host: .move(to: other))
            #expect(started.after == VmRecord(uuid: vmUuid(1), state: .running, hostUuid: other, lastHostUuid: h))
            let paused = try await inventory.updateVmState(uuid: vmUuid(1), to: .paused)
            #expect(paused.after.hostUuid == other)
            let cleared = try await inventory.updateVmState(uuid: vmUuid(1), to: .unknown, host: .clear)
            #expect(cleared.after == VmRecord(uuid: vmUuid(1), state: .unknown, hostUuid: nil, lastHostUuid: h))
        }
    }

    @Test(arguments: StoreBackend.available) func stoppingAHostlessVmKeepsItsLastHost(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertVms([VmRecord(uuid: vmUuid(1), state: .unknown, lastHostUuid: h)])
            let update = try await inventory.updateVmState(uuid: vmUuid(1), to: .stopped)
            #expect(update.after == VmRecord(uuid: vmUuid(1), state: .stopped, hostUuid: nil, lastHostUuid: h))
        }
    }

    @Test(arguments: StoreBackend.available) func selfLoopIsNotAStateChange(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            try await inventory.upsertVms([VmRecord(uuid: vmUuid(1), state: .running, hostUuid: h)])
            let update = try await inventory.updateVmState(uuid: vmUuid(1), to: .running)
            #expect(!update.stateChanged)
            #expect(update.before == update.after)
        }
    }

    struct TransitionRejected: Error, Equatable {}

    @Test(arguments: StoreBackend.available) func errorFromTheChangeIsRethrownAndNothingIsWritten(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let vm = VmRecord(uuid: vmUuid(1), state: .expunging, hostUuid: h)
            try await inventory.upsertVms([vm])
            await #expect(throws: TransitionRejected()) {
                try await inventory.updateVm(uuid: vmUuid(1)) { record in
                    record.state = .running
                    record.hostUuid = other
                    throw TransitionRejected()
                }
            }
            #expect(try await inventory.vm(uuid: vmUuid(1)) == vm)
        }
    }

    @Test(arguments: StoreBackend.available) func changeMayNotReplaceTheUuidOrBreakTheRules(_ backend: StoreBackend) async throws {
        try await backend.withStore { inventory async throws in
            let vm = VmRecord(uuid: vmUuid(1), state: .running, hostUuid: h)
            try await inventory.upsertVms([vm])
            let renamed = await #expect(throws: InventoryError.self) {
                try await inventory.updateVm(uuid: vmUuid(1)) { $0.uuid = vmUuid(2) }
            }
            #expect(renamed.flatMap(problemLocations) == ["vm.uuid"])
            let broken = await #expect(throws: InventoryError.self) {
                try await inventory.updateVm(uuid: vmUuid(1)) { $0.hostUuid = "somewhere" }
            }
            #expect(broken.flatMap(problemLocations) == ["vm.hostUuid"])
            #expect(try await inventory.vm(uuid: vmUuid(1)) == vm)
            #expect(try await inventory.vm(uuid: vmUuid(2)) == nil)
        }
    }

    @Test(arguments: StoreBackend.available) func updateOfAnUnknownVmNamesIt(_ backend: StoreBackend) async throws {
        _ = try await backend.withStore { inventory async throws in
            await #expect(throws: InventoryError.notFound(entity: .vm, uuid: vmUuid(7))) {
                try await inventory.updateVmState(uuid: vmUuid(7), to: .running)
            }
        }
    }

    /// Read, change and write are one transaction: concurrent read-modify-write updates never lose one.
    /// The change counts in `clusterUuid` so the test can see a lost update.
    @Test func concurrentUpdatesAreSerialized() async throws {
        try await withTemporaryDatabasePath { path in
            let inventory = try SQLiteInventory(path: path)
            try await inventory.upsertVms([
                VmRecord(uuid: vmUuid(1), state: .running, hostUuid: h, clusterUuid: uuid(0, kind: 0))
            ])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        _ = try await inventory.updateVm(uuid: vmUuid(1)) { vm in
                            let count = Int(vm.clusterUuid ?? "0", radix: 16) ?? 0
                            vm.clusterUuid = uuid(count + 1, kind: 0)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await inventory.vm(uuid: vmUuid(1))?.clusterUuid == uuid(40, kind: 0))
        }
    }
}
