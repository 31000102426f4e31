extension Array {
    /// The items in the order round `round` (1-based) runs them: each round starts one item further along, so over a
    /// multiple of `count` rounds every item runs in every slot equally often. Whichever responder ran first in a round
    /// measured 13–20 % less CPU per echo for the same binary (BENCHMARKS.md, eleventh session): a fixed order
    /// favoured one side of every comparison.
    func inRoundOrder(_ round: Int) -> [Element] {
        guard !isEmpty else { return [] }
        let shift = (round - 1) % count
        return Array(self[shift...] + self[..<shift])
    }
}
