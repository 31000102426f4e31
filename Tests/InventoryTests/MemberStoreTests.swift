import Foundation
import Inventory
import Testing

/// The fleet's membership as the store decides it, on both back ends.
@Suite("Member store")
struct MemberStoreTests {
    let nodeA = "c0000000000000000000000000000001"
    let nodeB = "c0000000000000000000000000000002"

    @Test(arguments: StoreBackend.available)
    func heartbeatsListEveryMemberWithAFreshAge(_ backend: StoreBackend) async throws {
        try await backend.withStore { store async throws in
            #expect(try await store.members().isEmpty)
            _ = try await store.heartbeat(node: nodeB, services: ["host"])
            let members = try await store.heartbeat(node: nodeA, services: ["host", "vmInstance"])
            #expect(members.map(\.nodeUuid) == [nodeA, nodeB])
            #expect(members[0].services == ["host", "vmInstance"])
            #expect(members.allSatisfy { $0.state == .alive && $0.isLive(timeout: .seconds(15)) })
            #expect(members.allSatisfy { $0.heartbeatAge < .seconds(5) })
        }
    }

    @Test(arguments: StoreBackend.available)
    func aSilentMemberIsDeclaredLeftExactlyOnce(_ backend: StoreBackend) async throws {
        try await backend.withStore { store async throws in
            _ = try await store.heartbeat(node: nodeB, services: ["host"])
            // Not silent long enough: nobody may declare it.
            #expect(try await store.declareLeft(node: nodeB, by: nodeA, silentFor: .seconds(60)) == false)
            try await Task.sleep(for: .milliseconds(30))
            let survivors = (0..<8).map { uuid($0 + 10, kind: 0xc) }
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for survivor in survivors {
                    group.addTask { try await store.declareLeft(node: nodeB, by: survivor, silentFor: .milliseconds(10)) }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
            let left = try #require(try await store.members().first { $0.nodeUuid == nodeB })
            #expect(left.state == .left)
            #expect(left.leftAnnouncedBy.map(survivors.contains) == true)
            #expect(!left.isLive(timeout: .seconds(15)))
        }
    }

    @Test(arguments: StoreBackend.available)
    func aGracefulLeaveIsAnnouncedByItselfAndARejoinRevives(_ backend: StoreBackend) async throws {
        try await backend.withStore { store async throws in
            _ = try await store.heartbeat(node: nodeA, services: ["host"])
            try await store.leave(node: nodeA)
            try await store.leave(node: nodeA)
            let left = try #require(try await store.members().first)
            #expect(left.state == .left && left.leftAnnouncedBy == nodeA)
            #expect(try await store.declareLeft(node: nodeA, by: nodeB, silentFor: .zero) == false)
            let back = try await store.heartbeat(node: nodeA, services: ["host"])
            #expect(back.first?.state == .alive && back.first?.leftAnnouncedBy == nil)
        }
    }
}

@Suite("Member store: draining a departed worker's queues")
struct MemberDrainClaimTests {
    let departed = "c0000000000000000000000000000009"
    let survivors = ["c0000000000000000000000000000001", "c0000000000000000000000000000002"]

    @Test(arguments: StoreBackend.available)
    func oneSurvivorClaimsAndAClaimOfADeadClaimantLapses(_ backend: StoreBackend) async throws {
        try await backend.withStore { store async throws in
            _ = try await store.heartbeat(node: departed, services: ["host"])
            #expect(try await store.claimDrain(node: departed, by: survivors[0], live: survivors) == false,
                    "a live member is not drained")
            try await store.leave(node: departed)
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for survivor in survivors {
                    group.addTask { try await store.claimDrain(node: self.departed, by: survivor, live: self.survivors) }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
            let claimant = try #require(try await store.members().first?.drainedBy)
            let other = survivors.first { $0 != claimant }!
            #expect(try await store.claimDrain(node: departed, by: other, live: survivors) == false)
            #expect(try await store.claimDrain(node: departed, by: claimant, live: survivors), "a restarted claimant keeps it")
            #expect(try await store.claimDrain(node: departed, by: other, live: [other]), "the claimant died: it lapses")
            _ = try await store.heartbeat(node: departed, services: ["host"])
            #expect(try await store.members().first?.drainedBy == nil, "a rejoin clears the claim")
        }
    }
}
