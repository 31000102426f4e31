@testable import KeyedExecution
import PropertyBased
import Testing

@Suite("Ring", .timeLimit(.minutes(1)))
struct RingTests {
    @Test("behaves as a FIFO queue through growth, wrap-around and shrinking")
    func matchesArrayModel() async {
        // Each operation: append (a positive value) or pop (0), biased to grow then drain.
        let operations = Gen.int(in: 0...3).array(of: 0...400)
        await propertyCheck(input: operations) { ops in
            var ring = Ring<Int>()
            var model: [Int] = []
            for (index, op) in ops.enumerated() {
                if op == 0 {
                    #expect(ring.popFirst() == model.first)
                    if !model.isEmpty { model.removeFirst() }
                } else {
                    ring.append(index)
                    model.append(index)
                }
                #expect(ring.count == model.count)
                #expect(ring.first == model.first)
            }
            #expect(ring.removeAll() == model)
            #expect(ring.isEmpty && ring.capacity == 0)
        }
    }

    @Test("gives memory back after a burst")
    func shrinksAfterBurst() {
        var ring = Ring<Int>()
        for value in 0..<10_000 {
            ring.append(value)
        }
        #expect(ring.capacity >= 10_000)
        for value in 0..<9_990 {
            #expect(ring.popFirst() == value)
        }
        #expect(ring.count == 10)
        #expect(ring.capacity <= 64)
        #expect(Array((0..<10).compactMap { _ in ring.popFirst() }) == Array(9_990..<10_000))
    }
}
