import CloudBus
import Foundation
import Inventory
import KVM
import KVMMessages
import Testing

@Suite("VM tracer: strangers and VMs stuck in shutdown")
struct TracerStrangerShutdownTests {
    typealias F = TracerFixture

    @Test("scenario 10: a stranger fires once per (VM, host); another host fires again")
    func scenario10() async throws {
        try await F.with { fixture async throws in
            let stranger = F.vm(0xdead)
            fixture.report(F.h1, [stranger: "Running"])
            let first = try await fixture.sync(F.h1)
            let second = try await fixture.sync(F.h1)
            let found = first.events(at: StrangerVmFoundData.path)
            #expect(found.count == 1)
            #expect(second.events.isEmpty)
            #expect(first.stateChanges.isEmpty && second.stateChanges.isEmpty)
            let data = try #require(found.first).content(as: StrangerVmFoundData.self)
            #expect(data == StrangerVmFoundData(vmIdentity: stranger, hostUuid: F.h1, vmState: "Running"))
            #expect(found.first?.managementNodeId == fixture.membership.selfNode.rawValue)

            fixture.report(F.h2, [stranger: "Paused"])
            let onH2 = try await fixture.sync(F.h2)
            #expect(try onH2.events(at: StrangerVmFoundData.path).map { try $0.content(as: StrangerVmFoundData.self) }
                == [StrangerVmFoundData(vmIdentity: stranger, hostUuid: F.h2, vmState: "Paused")])
        }
    }

    @Test("scenario 10: after 1,500 other strangers the first one is forgotten and fires again")
    func scenario10Eviction() async throws {
        try await F.with { fixture async throws in
            let first = F.vm(0xf0000)
            fixture.report(F.h1, [first: "Running"])
            #expect(try await fixture.sync(F.h1).events.count == 1)
            #expect(try await fixture.sync(F.h1).events.isEmpty)

            var others: [String: String] = [:]
            for number in 1...StrangerVmCache.defaultCapacity { others[F.vm(number)] = "Running" }
            fixture.report(F.h1, others)
            #expect(try await fixture.sync(F.h1).events.count == StrangerVmCache.defaultCapacity)
            #expect(fixture.strangers.count == StrangerVmCache.defaultCapacity)

            fixture.report(F.h1, [first: "Running"])
            #expect(try await fixture.sync(F.h1).events.count == 1)
        }
    }

    @Test("scenario 11: the in-shutdown event fires on the 11th consecutive report, then counting restarts")
    func scenario11() async throws {
        try await F.with { fixture async throws in
            try await fixture.store(VmRecord(uuid: F.vm(1), state: .running, hostUuid: F.h1))
            fixture.report(F.h1, [F.vm(1): "Running"], inShutdown: [F.vm(1)])
            for round in 1...10 {
                let sent = try await fixture.sync(F.h1)
                #expect(sent.events.isEmpty, "round \(round)")
                #expect(fixture.shutdowns.count(of: F.vm(1)) == round)
            }
            let eleventh = try await fixture.sync(F.h1)
            let fired = eleventh.events(at: VmStateInShutdownData.path)
            #expect(fired.count == 1)
            #expect(try fired.first?.content(as: VmStateInShutdownData.self).vmUuid == F.vm(1))
            #expect(fixture.shutdowns.count(of: F.vm(1)) == 0)
            #expect(eleventh.stateChanges.isEmpty)

            // Ten more reports, one of them without V: the counter restarts, so nothing fires.
            for round in 1...10 {
                if round == 4 { fixture.report(F.h1, [F.vm(1): "Running"]) }
                if round == 5 { fixture.report(F.h1, [F.vm(1): "Running"], inShutdown: [F.vm(1)]) }
                #expect(try await fixture.sync(F.h1).events.isEmpty, "round \(round)")
            }
            #expect(fixture.shutdowns.count(of: F.vm(1)) == 6)
        }
    }

    @Test("shutdown counter: 1..10 then fire and reset; leaving the list drops the count")
    func shutdownCounterUnit() {
        let counter = VmShutdownCounter()
        for _ in 1...10 { #expect(counter.observe(inShutdown: ["a"], reported: ["a", "b"]).isEmpty) }
        #expect(counter.count(of: "a") == 10)
        #expect(counter.count(of: "b") == 0)
        #expect(counter.observe(inShutdown: ["a"], reported: ["a"]) == ["a"])
        #expect(counter.count(of: "a") == 0)
        _ = counter.observe(inShutdown: ["a"], reported: ["a"])
        _ = counter.observe(inShutdown: [], reported: ["a"])
        #expect(counter.count(of: "a") == 0)
        // A VM not in this report keeps its count (ZStack never clears counters of VMs that left).
        _ = counter.observe(inShutdown: ["c"], reported: ["c"])
        _ = counter.observe(inShutdown: [], reported: ["d"])
        #expect(counter.count(of: "c") == 1)
    }

    @Test("stranger cache shared by concurrent host rounds: each (VM, host) is announced exactly once")
    func strangerCacheConcurrent() async {
        let cache = StrangerVmCache()
        let announced = await withTaskGroup(of: Int.self) { group in
            for host in 0..<8 {
                group.addTask {
                    var count = 0
                    for _ in 0..<3 {
                        for vm in 0..<150 where cache.shouldAnnounce(vmUuid: "h\(host)-vm\(vm)", onHost: "h\(host)") {
                            count += 1
                        }
                    }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        #expect(announced == 8 * 150)
        #expect(cache.count == 8 * 150)
    }

    @Test("stranger cache: least recently reported is evicted first; a re-report refreshes")
    func strangerCacheUnit() {
        let cache = StrangerVmCache(capacity: 2)
        #expect(cache.shouldAnnounce(vmUuid: "a", onHost: "h1"))
        #expect(cache.shouldAnnounce(vmUuid: "b", onHost: "h1"))
        #expect(!cache.shouldAnnounce(vmUuid: "a", onHost: "h1"))  // refreshes a
        #expect(cache.shouldAnnounce(vmUuid: "c", onHost: "h1"))  // evicts b
        #expect(!cache.shouldAnnounce(vmUuid: "a", onHost: "h1"))
        #expect(cache.shouldAnnounce(vmUuid: "b", onHost: "h1"))  // evicts c
        #expect(cache.shouldAnnounce(vmUuid: "a", onHost: "h2"))  // another host
        #expect(!cache.shouldAnnounce(vmUuid: "a", onHost: "h2"))
        #expect(cache.count == 2)
    }
}
