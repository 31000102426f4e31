@testable import CloudBusBench
import Testing

@Suite("Round order of the benches")
struct RoundOrderTests {
    @Test("each round starts one further along; over a multiple of the count every item takes every slot once")
    func rotation() {
        let items = ["a", "b", "c"]
        #expect(items.inRoundOrder(1) == ["a", "b", "c"])
        #expect(items.inRoundOrder(2) == ["b", "c", "a"])
        #expect(items.inRoundOrder(3) == ["c", "a", "b"])
        #expect(items.inRoundOrder(4) == ["a", "b", "c"])
        for slot in items.indices {
            #expect(Set((1...3).map { items.inRoundOrder($0)[slot] }) == Set(items))
        }
        #expect([String]().inRoundOrder(2).isEmpty)
        #expect(["only"].inRoundOrder(5) == ["only"])
    }
}
