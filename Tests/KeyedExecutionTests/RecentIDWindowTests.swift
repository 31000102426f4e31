import KeyedExecution
import Testing

@Suite("RecentIDWindow", .timeLimit(.minutes(1)))
struct RecentIDWindowTests {
    @Test("a redelivered id is recognised as a duplicate")
    func dedupe() {
        let window = RecentIDWindow<String>(capacity: 4)
        #expect(window.insertIfAbsent("msg-1"))
        #expect(!window.insertIfAbsent("msg-1"))
        #expect(window.contains("msg-1"))
        #expect(!window.contains("msg-2"))
        #expect(window.count == 1)
    }

    @Test("the oldest id is forgotten first once capacity is reached")
    func fifoEviction() {
        let window = RecentIDWindow<Int>(capacity: 3)
        for id in 1...4 {
            #expect(window.insertIfAbsent(id))
        }
        #expect(!window.contains(1))
        #expect([2, 3, 4].allSatisfy(window.contains))
        #expect(window.count == 3)
        #expect(window.insertIfAbsent(1), "an evicted id counts as new again")
        #expect(!window.contains(2))
    }

    @Test("a duplicate does not refresh an id's place in the window")
    func duplicateDoesNotRefresh() {
        let window = RecentIDWindow<String>(capacity: 2)
        window.insertIfAbsent("a")
        window.insertIfAbsent("b")
        #expect(!window.insertIfAbsent("a"))
        window.insertIfAbsent("c")
        #expect(!window.contains("a"))
        #expect(window.contains("b") && window.contains("c"))
    }

    @Test("a removed id can be inserted again, and its stale slot never evicts the new entry")
    func removeThenReinsert() {
        let window = RecentIDWindow<String>(capacity: 2)
        window.insertIfAbsent("a")
        window.remove("a")
        #expect(!window.contains("a"))
        #expect(window.insertIfAbsent("a"))
        window.insertIfAbsent("b")  // pushes out the stale first "a" slot, not the live one
        #expect(window.contains("a") && window.contains("b"))
        window.insertIfAbsent("c")
        #expect(!window.contains("a"))
        #expect(window.count == 2)
    }

    @Test("capacity 1 remembers only the last id")
    func capacityOne() {
        let window = RecentIDWindow<Int>(capacity: 1)
        #expect(window.insertIfAbsent(7))
        #expect(!window.insertIfAbsent(7))
        #expect(window.insertIfAbsent(8))
        #expect(!window.contains(7))
    }

    @Test("concurrent inserts of the same ids admit each id exactly once")
    func concurrentInsertsAdmitOnce() async {
        let window = RecentIDWindow<Int>(capacity: 10_000)
        let admitted = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<1_000).reduce(0) { count, id in count + (window.insertIfAbsent(id) ? 1 : 0) }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(admitted == 1_000)
        #expect(window.count == 1_000)
    }
}
