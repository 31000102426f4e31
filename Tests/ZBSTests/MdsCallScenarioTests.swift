import AgentHTTP
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import Primitives
import Synchronization
import Testing
import ZBS
import ZBSMessages

/// The 18 scenarios of zstack-zbs-mds.md §7. Setup unless stated: A, B, C all Connected, tried in that order.
@Suite("MDS call scenarios (zbs-mds §7)")
struct MdsCallScenarioTests {
    static let cbdVolume = "cbd:pp/lp/vol1"

    @Test("scenario 1: first MDS refuses, async createVolume moves to B; A stays Connected")
    func scenario1() async throws {
        try await MdsFixture.with(peers: [.refusing, .fake, .fake]) { fixture in
            let answer = try await fixture.call(
                "/volume/create", command: ["logicalPool": "lp", "volume": "vol1", "size": 1])
            #expect(answer.addr == "mds-b")
            let posts = fixture.b.receivedRequests(path: "/volume/create")
            #expect(posts.count == 1)
            #expect(posts.first?.string("addr") == "mds-b")
            #expect(fixture.c.receivedRequests.isEmpty)
            #expect(answer.failedAttempts.map(\.addr) == ["mds-a"])
            guard case .transport(.connectionRefused)? = answer.failedAttempts.first?.cause else {
                Issue.record("A's failure should be a refused connection: \(answer.failedAttempts)")
                return
            }
            #expect(try await fixture.storage().mds[0].status == .connected)
            // One callback delivered to one waiting call, nothing else.
            #expect(fixture.server.statistics.delivered == 1)
        }
    }

    @Test("scenario 2: first MDS refuses, sync getActiveClients (try-next) returns B's clients")
    func scenario2() async throws {
        try await MdsFixture.with(peers: [.refusing, .fake, .fake]) { fixture in
            fixture.b.setClients([.init(ip: "127.0.0.7", port: 3260)], for: Self.cbdVolume)
            let clients = try await fixture.calls.activeClients(
                primaryStorageUuid: MdsFixture.storageUuid, installPath: "zbs://lp/vol1")
            #expect(clients == [ZbsVolumeClient(ip: "127.0.0.7", port: 3260)])
            let toB = fixture.b.receivedRequests(path: "/volume/clients")
            #expect(toB.count == 1)
            #expect(toB.first?.taskUUID == nil, "a sync path carries no taskuuid")
            #expect(fixture.c.receivedRequests.isEmpty)
        }
    }

    @Test("scenario 3: first MDS accepts and never answers (sync): abandoned after one attempt, B answers")
    func scenario3Silent() async throws {
        try await MdsFixture.with(peers: [.silent, .fake, .fake]) { fixture in
            fixture.b.setClients([.init(ip: "127.0.0.8")], for: Self.cbdVolume)
            let answer = try await fixture.call(
                "/volume/clients", sync: true, tryNext: true, command: ["path": .string(Self.cbdVolume)])
            #expect(answer.addr == "mds-b")
            #expect(fixture.silent["mds-a"]?.acceptedCount == 1, "A is contacted exactly once: no inner retries")
            guard case .deadline? = answer.failedAttempts.first?.cause else {
                Issue.record("A's failure should be its deadline: \(answer.failedAttempts)")
                return
            }
        }
    }

    @Test("scenario 3: first MDS black-holed at connect (sync): connect timeout, B answers")
    func scenario3Blackholed() async throws {
        try await MdsFixture.with(peers: [.neverAccepting, .fake, .fake]) { fixture in
            let answer = try await fixture.call(
                "/volume/clients", sync: true, tryNext: true, command: ["path": .string(Self.cbdVolume)])
            #expect(answer.addr == "mds-b")
            #expect(answer.failedAttempts.count == 1)
            #expect(answer.failedAttempts.first?.addr == "mds-a")
        }
    }

    @Test("scenario 4: async op without try-next times out on A: SYS.1001, B not contacted")
    func scenario4WithoutTryNext() async throws {
        try await MdsFixture.with { fixture in
            fixture.a.setBehaviour(.neverAnswer, for: "/volume/create")
            let error = try await MdsFixture.mdsError {
                _ = try await fixture.call("/volume/create", command: ["logicalPool": "lp", "volume": "v"])
            }
            guard case .attemptTimedOut(let failure, let earlier) = error else {
                Issue.record("expected a final timeout, got \(error)")
                return
            }
            #expect(failure.addr == "mds-a")
            #expect(earlier.isEmpty)
            #expect(error.errorCode.code == SysError.timeout.code)
            #expect(fixture.b.receivedRequests.isEmpty)
            #expect(fixture.c.receivedRequests.isEmpty)
        }
    }

    @Test("scenario 4: the same timeout with try-next moves on to B")
    func scenario4WithTryNext() async throws {
        try await MdsFixture.with { fixture in
            fixture.a.setBehaviour(.neverAnswer, for: "/volume/query")
            let answer = try await fixture.call(
                "/volume/query", tryNext: true, command: ["path": .string(Self.cbdVolume)])
            #expect(answer.addr == "mds-b")
            #expect(fixture.b.receivedRequests(path: "/volume/query").count == 1)
        }
    }

    @Test("scenario 5: A's late reply after its deadline is dropped; the call completes once, with B's answer")
    func scenario5() async throws {
        try await MdsFixture.with { fixture in
            fixture.a.setBehaviour(
                .answerAfter(MdsFixture.attemptTimeout * 2, json: #"{"success":true,"size":111}"#), for: "/volume/query")
            fixture.b.setBehaviour(.answer(json: #"{"success":true,"size":222}"#), for: "/volume/query")
            let answer = try await fixture.call(
                "/volume/query", tryNext: true, command: ["path": .string(Self.cbdVolume)])
            #expect(answer.addr == "mds-b")
            #expect(answer.body["size"] == .integer(222))
            #expect(try await eventually { fixture.a.callbacksSent == 1 }, "A's late callback was sent")
            let statistics = fixture.server.statistics
            #expect(statistics.delivered == 1)
            #expect(statistics.dropped == 1, "the late callback is dropped, not applied")
            #expect(statistics.pending == 0)
        }
    }

    @Test("scenario 5: an MDS calling back twice completes the call once; the second callback is dropped")
    func scenario5Twice() async throws {
        try await MdsFixture.with { fixture in
            fixture.a.setBehaviour(.callBackTwice(json: #"{"success":true,"size":5}"#), for: "/volume/query")
            let answer = try await fixture.call("/volume/query", command: ["path": .string(Self.cbdVolume)])
            #expect(answer.body["size"] == .integer(5))
            #expect(try await eventually { fixture.a.callbacksSent == 2 })
            #expect(fixture.server.statistics.delivered == 1)
            #expect(try await eventually { fixture.server.statistics.dropped == 1 })
        }
    }

    @Test("scenario 6: all MDS down: one aggregate error with three causes in attempt order, each naming its MDS")
    func scenario6() async throws {
        try await MdsFixture.with { fixture in
            for fake in fixture.fakes.values { fake.setBehaviour(.httpStatus(503, "zbs agent is stopping"), for: "/capacity") }
            let error = try await MdsFixture.mdsError {
                _ = try await fixture.call("/capacity", tryNext: true)
            }
            guard case .allFailed(let path, let attempts) = error else {
                Issue.record("expected allFailed, got \(error)")
                return
            }
            #expect(path == "/zbs/primarystorage/capacity")
            #expect(attempts.map(\.addr) == ["mds-a", "mds-b", "mds-c"])
            let code = error.errorCode
            #expect(code.code == SysError.operationError.code)
            #expect(code.details == "all MDS cannot execute http call[/zbs/primarystorage/capacity]")
            #expect(code.causes?.count == 3)
            for (cause, addr) in zip(code.causes ?? [], MdsFixture.addrs) {
                #expect(cause.details?.contains("MDS[\(addr)]") == true, "\(cause)")
                #expect(cause.details?.contains("503") == true)
            }
            #expect(fixture.requestCounts(path: "/capacity") == ["mds-a": 1, "mds-b": 1, "mds-c": 1])
        }
    }

    @Test("scenario 7: no Connected MDS: fails at once, zero HTTP requests")
    func scenario7() async throws {
        try await MdsFixture.with(statuses: [.disconnected, .connecting, .disconnected]) { fixture in
            let error = try await MdsFixture.mdsError {
                _ = try await fixture.call("/volume/query", tryNext: true, command: ["path": .string(Self.cbdVolume)])
            }
            #expect(error == .noConnectedMds(primaryStorageUuid: MdsFixture.storageUuid))
            #expect(error.errorCode.details
                == "all MDS of ZBS primary storage[uuid:\(MdsFixture.storageUuid)] are not in Connected state")
            #expect(fixture.totalRequests == 0)
            #expect(fixture.server.statistics.pending == 0, "no call registered, so no timer")
        }
    }

    @Test("scenario 8: mixed statuses: only the Connected C is contacted; its failure is the only cause")
    func scenario8() async throws {
        try await MdsFixture.with(statuses: [.disconnected, .connecting, .connected]) { fixture in
            fixture.c.setBehaviour(.httpStatus(500, "boom"), for: "/volume/query")
            let error = try await MdsFixture.mdsError {
                _ = try await fixture.call("/volume/query", tryNext: true, command: ["path": .string(Self.cbdVolume)])
            }
            #expect(error.attempts.map(\.addr) == ["mds-c"])
            #expect(error.errorCode.causes?.count == 1)
            #expect(fixture.a.receivedRequests.isEmpty)
            #expect(fixture.b.receivedRequests.isEmpty)
        }
    }

    @Test("scenario 9: agent success=false without try-next: final operation error carrying the text; B, C untouched")
    func scenario9() async throws {
        try await MdsFixture.with { fixture in
            fixture.a.setBehaviour(.fail(error: "x"), for: "/volume/create")
            let error = try await MdsFixture.mdsError {
                _ = try await fixture.call("/volume/create", command: ["logicalPool": "lp", "volume": "v"])
            }
            #expect(error == .agentFailed(addr: "mds-a", path: "/zbs/primarystorage/volume/create", message: "x", earlier: []))
            #expect(error.errorCode.code == SysError.operationError.code)
            #expect(error.errorCode.details?.hasSuffix("operation error, because:x") == true)
            #expect(error.errorCode.causes == nil, "not wrapped in the all-MDS aggregate")
            #expect(fixture.b.receivedRequests.isEmpty)
            #expect(fixture.c.receivedRequests.isEmpty)
        }
    }

    @Test("scenario 10: agent success=false WITH try-next is final too (pinned rule), earlier causes kept")
    func scenario10() async throws {
        try await MdsFixture.with(peers: [.refusing, .fake, .fake]) { fixture in
            fixture.b.setBehaviour(.fail(error: "volume is locked"), for: "/volume/clients")
            let error = try await MdsFixture.mdsError {
                _ = try await fixture.calls.activeClients(
                    primaryStorageUuid: MdsFixture.storageUuid, installPath: "zbs://lp/vol1")
            }
            guard case .agentFailed(let addr, _, let message, let earlier) = error else {
                Issue.record("expected a final agent failure, got \(error)")
                return
            }
            #expect(addr == "mds-b")
            #expect(message == "volume is locked")
            #expect(earlier.map(\.addr) == ["mds-a"], "A's transport failure is kept as a cause")
            #expect(error.errorCode.causes?.count == 1)
            #expect(fixture.c.receivedRequests.isEmpty, "no try-next after an agent failure")
        }
    }

    @Test("scenario 11: non-2xx, unparsable sync body, unparsable callback body: each moves to the next MDS")
    func scenario11() async throws {
        try await MdsFixture.with { fixture in
            fixture.a.setBehaviour(.httpStatus(502, "bad gateway"), for: "/volume/delete")
            fixture.b.setBehaviour(.garbage("{not json"), for: "/volume/delete")
            let asyncAnswer = try await fixture.call("/volume/delete", command: ["path": .string(Self.cbdVolume)])
            #expect(asyncAnswer.addr == "mds-c")
            #expect(asyncAnswer.failedAttempts.map(\.addr) == ["mds-a", "mds-b"])
            guard case .unparsable? = asyncAnswer.failedAttempts.last?.cause else {
                Issue.record("B's callback is unparsable: \(asyncAnswer.failedAttempts)")
                return
            }

            fixture.a.setBehaviour(.garbage("<html>oops</html>"), for: "/volume/clients")
            let syncAnswer = try await fixture.call(
                "/volume/clients", sync: true, tryNext: true, command: ["path": .string(Self.cbdVolume)])
            #expect(syncAnswer.addr != "mds-a")
        }
    }

    @Test("scenario 12: each Connected MDS tried at most once, no second pass; seeded order reproducible")
    func scenario12Order() async throws {
        try await MdsFixture.with(shuffle: .seeded(42)) { fixture in
            for fake in fixture.fakes.values { fake.setBehaviour(.httpStatus(500, "down"), for: "/capacity") }
            let first = try await MdsFixture.mdsError { _ = try await fixture.call("/capacity", tryNext: true) }
            #expect(Set(first.attempts.map(\.addr)) == Set(MdsFixture.addrs))
            #expect(first.attempts.count == 3)
            #expect(fixture.requestCounts(path: "/capacity") == ["mds-a": 1, "mds-b": 1, "mds-c": 1])
            let storage = try await fixture.storage()
            let again = MdsShuffle.seeded(42).apply(storage.mds).map(\.addr)
            #expect(first.attempts.map(\.addr) == again, "the seeded shuffle fixes the order")
        }
    }

    @Test("scenario 12: unseeded first choices spread over all MDS; the configured order does not bias it")
    func scenario12Spread() async throws {
        try await MdsFixture.with(shuffle: .system) { fixture in
            let storage = try await fixture.storage()
            var firsts: [String: Int] = [:]
            for _ in 0..<600 {
                let order = try fixture.caller.candidates(of: storage, options: MdsCallOptions(path: "/capacity"))
                firsts[order[0].addr, default: 0] += 1
                #expect(Set(order.map(\.addr)).count == 3)
            }
            // Expected 200 each; below 100 has probability < 1e-12 for a uniform shuffle.
            for addr in MdsFixture.addrs { #expect(firsts[addr, default: 0] > 100, "\(firsts)") }
            // And real calls land on several MDS.
            for _ in 0..<30 { _ = try await fixture.call("/echo", sync: true) }
            #expect(fixture.requestCounts(path: "/echo").values.filter { $0 > 0 }.count >= 2)
        }
    }

    @Test("scenario 13: cleannbd pinned to B: only B; B not Connected fails at once; B refusing never tries A or C")
    func scenario13() async throws {
        try await MdsFixture.with { fixture in
            try await fixture.calls.cleanNbd(primaryStorageUuid: MdsFixture.storageUuid, nbdAddr: "mds-b", port: 10809)
            #expect(fixture.requestCounts(path: "/volume/cleannbd") == ["mds-a": 0, "mds-b": 1, "mds-c": 0])
        }
        try await MdsFixture.with(statuses: [.connected, .disconnected, .connected]) { fixture in
            let error = try await MdsFixture.mdsError {
                try await fixture.calls.cleanNbd(primaryStorageUuid: MdsFixture.storageUuid, nbdAddr: "mds-b", port: 1)
            }
            #expect(error == .mdsNotFound(addr: "mds-b", primaryStorageUuid: MdsFixture.storageUuid))
            #expect(fixture.totalRequests == 0)
        }
        try await MdsFixture.with(peers: [.fake, .refusing, .fake]) { fixture in
            let error = try await MdsFixture.mdsError {
                try await fixture.calls.cleanNbd(primaryStorageUuid: MdsFixture.storageUuid, nbdAddr: "mds-b", port: 1)
            }
            #expect(error.attempts.map(\.addr) == ["mds-b"])
            #expect(fixture.totalRequests == 0, "A and C are never tried")
        }
    }

    @Test("scenario 14: 20 parallel calls while A is dead, 2 slots per MDS: all complete once, none hangs")
    func scenario14() async throws {
        // 3 s per attempt, not the fixture's 1 s: 20 calls queue on four live slots, and under a full parallel
        // `make test` a live MDS's loopback answer was held past 1 s often enough that every candidate of a call
        // timed out (failed twice in one session). The point — A's cap holds and nothing hangs — does not need 1 s.
        try await MdsFixture.with(peers: [.silent, .fake, .fake], attemptTimeout: .seconds(3), concurrencyPerMds: 2) {
            fixture in
            let storage = try await fixture.storage()
            let deadEndpoint = fixture.endpoints["mds-a"]!
            let peak = Mutex(0)
            let sampler = Task {
                while !Task.isCancelled {
                    let inUse = fixture.caller.slots.inUse(deadEndpoint)
                    peak.withLock { $0 = max($0, inUse) }
                    try? await Task.sleep(for: .milliseconds(1))
                }
            }
            defer { sampler.cancel() }
            let results = try await withThrowingTaskGroup(of: MdsAnswer.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        try await fixture.caller.call(
                            storage, command: ["path": .string("cbd:pp/lp/vol\(index)")],
                            options: MdsCallOptions(path: "/volume/clients", sync: true, tryNext: true))
                    }
                }
                var answers: [MdsAnswer] = []
                for try await answer in group { answers.append(answer) }
                return answers
            }
            #expect(results.count == 20)
            #expect(results.allSatisfy { $0.addr != "mds-a" })
            let served = fixture.requestCounts(path: "/volume/clients")
            // Every call reaches a live MDS; one reaches a second only after an attempt timed out on the first (a
            // loaded machine can hold a loopback answer past the attempt timeout — that attempt is counted), so
            // duplicates are bounded by those timeouts: with none, each call is served exactly once.
            #expect(served["mds-b", default: 0] + served["mds-c", default: 0] >= 20, "every call served")
            #expect(served["mds-b", default: 0] + served["mds-c", default: 0]
                        <= 20 + fixture.timedOutAttempts(on: ["mds-b", "mds-c"]),
                    "served more often than the timed-out attempts on live MDSes explain")
            #expect(peak.withLock { $0 } <= 2, "never more than the cap in flight on A")
            #expect((fixture.silent["mds-a"]?.acceptedCount ?? 0) >= 1)
            #expect(try await fixture.storage().mds.allSatisfy { $0.status == .connected }, "no status mutation")
            #expect(fixture.caller.slots.inUse(fixture.endpoints["mds-a"]!) == 0)
        }
    }

    @Test("scenario 15: a call in flight keeps its MDS snapshot; the next call sees the update")
    func scenario15() async throws {
        try await MdsFixture.with(peers: [.silent, .fake, .fake], memoryWindow: .zero) { fixture in
            let storage = try await fixture.storage()
            async let inFlight = fixture.caller.call(
                storage, command: ["path": .string(Self.cbdVolume)],
                options: MdsCallOptions(path: "/volume/clients", sync: true, tryNext: true))
            #expect(try await eventually { fixture.silent["mds-a"]?.acceptedCount == 1 })
            var updated = storage
            updated.mds[1].status = .disconnected
            try await fixture.inventory.upsertZbsPrimaryStorages([updated])
            let answer = try await inFlight
            #expect(answer.addr == "mds-b", "the in-flight call still tries B from its snapshot")

            let next = try await fixture.call(
                "/volume/clients", sync: true, tryNext: true, command: ["path": .string(Self.cbdVolume)])
            #expect(next.addr == "mds-c")
            #expect(fixture.b.receivedRequests.count == 1, "the new call does not contact the now Disconnected B")
        }
    }
}

/// Scenarios 16–18 and the storage operations built on the MDS call.
@Suite("MDS call scenarios 16-18 (zbs-mds §7)")
struct MdsCallPathAndEnvelopeTests {
    @Test("scenario 16: zbs:// paths go out as cbd:pp/lp/vol@s; cbd: answers come back as zbs://")
    func scenario16() async throws {
        try await MdsFixture.with { fixture in
            let info = try await fixture.calls.createSnapshot(
                primaryStorageUuid: MdsFixture.storageUuid, installPath: "zbs://lp/vol1", snapshot: "s1")
            #expect(fixture.a.receivedRequests(path: "/snapshot/create").first?.string("path") == "cbd:pp/lp/vol1")
            #expect(info.installPath == "zbs://lp/vol1@s1")

            try await fixture.calls.deleteSnapshot(
                primaryStorageUuid: MdsFixture.storageUuid, installPath: "zbs://lp/vol1@s1")
            #expect(fixture.a.receivedRequests(path: "/snapshot/delete").first?.string("path") == "cbd:pp/lp/vol1@s1")

            let created = try await fixture.calls.createVolume(
                primaryStorageUuid: MdsFixture.storageUuid, logicalPool: "lp", volume: "vol2", size: 3 << 20)
            #expect(created.installPath == "zbs://lp/vol2")
            #expect(fixture.a.receivedRequests(path: "/volume/create").first?.jsonText("size") == "3")
        }
    }

    @Test("scenario 16: an unknown logical pool fails before any HTTP request")
    func scenario16UnknownPool() async throws {
        try await MdsFixture.with { fixture in
            let error = try await MdsFixture.mdsError {
                _ = try await fixture.calls.queryVolume(
                    primaryStorageUuid: MdsFixture.storageUuid, installPath: "zbs://nopool/vol1")
            }
            #expect(error == .unknownLogicalPool(pool: "nopool", primaryStorageUuid: MdsFixture.storageUuid))
            let create = try await MdsFixture.mdsError {
                _ = try await fixture.calls.createVolume(
                    primaryStorageUuid: MdsFixture.storageUuid, logicalPool: "nopool", volume: "v", size: 1)
            }
            #expect(create == .unknownLogicalPool(pool: "nopool", primaryStorageUuid: MdsFixture.storageUuid))
            #expect(fixture.totalRequests == 0)
        }
    }

    @Test("scenario 17: anti-split-brain: none or only the destination proceeds; another host rejects, naming it")
    func scenario17() async throws {
        try await MdsFixture.with { fixture in
            let check = SplitBrainCheck(calls: fixture.calls)
            let volumes = [
                ZbsVmVolume(volumeUuid: "root", primaryStorageUuid: MdsFixture.storageUuid, installPath: "zbs://lp/root"),
                ZbsVmVolume(volumeUuid: "data", primaryStorageUuid: MdsFixture.storageUuid, installPath: "zbs://lp/data"),
                ZbsVmVolume(
                    volumeUuid: "shared", primaryStorageUuid: MdsFixture.storageUuid, installPath: "zbs://lp/shared",
                    shareable: true),
            ]
            fixture.a.setClients([.init(ip: "192.0.2.10")], for: "cbd:pp/lp/shared")
            try await check.check(volumes: volumes, destinationIp: "192.0.2.1")

            fixture.a.setClients([.init(ip: "192.0.2.1")], for: "cbd:pp/lp/data")
            try await check.check(volumes: volumes, destinationIp: "192.0.2.1")
            #expect(
                fixture.a.receivedRequests(path: "/volume/clients").compactMap { $0.string("path") }
                    .allSatisfy { $0 != "cbd:pp/lp/shared" }, "shareable volumes are not asked about")

            fixture.a.setClients([.init(ip: "192.0.2.1"), .init(ip: "192.0.2.99")], for: "cbd:pp/lp/data")
            do {
                try await check.check(volumes: volumes, destinationIp: "192.0.2.1")
                Issue.record("the start must be rejected")
            } catch let conflict as SplitBrainCheck.Conflict {
                #expect(conflict.description
                    == "find active clients for volume[uuid:data, installPath zbs://lp/data, client:192.0.2.99]")
                #expect(conflict.errorCode.code == SysError.operationError.code)
            }
        }
    }

    @Test("scenario 17: every MDS failing rejects the start with the aggregated error")
    func scenario17AllFail() async throws {
        try await MdsFixture.with(peers: [.refusing, .silent, .refusing]) { fixture in
            let check = SplitBrainCheck(calls: fixture.calls)
            let error = try await MdsFixture.mdsError {
                try await check.check(
                    volumes: [ZbsVmVolume(
                        volumeUuid: "root", primaryStorageUuid: MdsFixture.storageUuid, installPath: "zbs://lp/root")],
                    destinationIp: "192.0.2.1")
            }
            guard case .allFailed(_, let attempts) = error else {
                Issue.record("expected the aggregate, got \(error)")
                return
            }
            #expect(attempts.map(\.addr) == MdsFixture.addrs)
            #expect(error.errorCode.details == "all MDS cannot execute http call[/zbs/primarystorage/volume/clients]")
        }
    }

    @Test("scenario 18: every attempt carries uuid = storage and addr = the contacted MDS; agent text verbatim")
    func scenario18() async throws {
        try await MdsFixture.with { fixture in
            fixture.a.setBehaviour(.httpStatus(500, "a down"), for: "/volume/expand")
            fixture.b.setBehaviour(.closeConnection, for: "/volume/expand")
            fixture.c.setBehaviour(.fail(error: "size 1 is smaller than the volume: 'vol1' (errno 22)"), for: "/volume/expand")
            let error = try await MdsFixture.mdsError {
                _ = try await fixture.calls.expandVolume(
                    primaryStorageUuid: MdsFixture.storageUuid, installPath: "zbs://lp/vol1", size: 1)
            }
            for (addr, fake) in [("mds-a", fixture.a), ("mds-b", fixture.b), ("mds-c", fixture.c)] {
                let requests = fake.receivedRequests(path: "/volume/expand")
                #expect(requests.count == 1)
                #expect(requests.first?.string("uuid") == MdsFixture.storageUuid)
                #expect(requests.first?.string("addr") == addr)
                #expect(requests.first?.taskUUID != nil)
            }
            #expect(error.errorCode.details?.contains("size 1 is smaller than the volume: 'vol1' (errno 22)") == true)
            #expect(error.errorCode.causes?.count == 2, "A's and B's transport failures are kept")
        }
    }
}
