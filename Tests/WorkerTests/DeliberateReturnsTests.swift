import Testing
@testable import Worker

@Suite("Deliberate returns: what the worker gave back is not a crash")
struct DeliberateReturnsTests {
    let id = "0123456789abcdef0123456789abcdef"

    @Test func givenCountsEveryReturnAndTakeClaimsEachOnce() {
        let returns = DeliberateReturns()
        #expect(returns.given(id) == 0)
        #expect(!returns.take(id), "nothing returned: a redelivery is not ours")
        returns.note(id)
        returns.note(id)
        #expect(returns.given(id) == 2)
        #expect(returns.take(id))
        #expect(returns.take(id))
        #expect(!returns.take(id), "two returns, two redeliveries explained; the third is a crash")
        #expect(returns.given(id) == 2, "what quorum queues' x-delivery-count is reduced by does not shrink on take")
    }

    @Test func settledIdsAreForgotten() {
        let returns = DeliberateReturns()
        returns.note(id)
        returns.forget(id)
        #expect(returns.given(id) == 0)
        #expect(!returns.take(id))
    }

    @Test func pastTheCapacityEverythingIsForgotten() {
        let returns = DeliberateReturns()
        for number in 0..<DeliberateReturns.capacity { returns.note(String(number)) }
        #expect(returns.given("0") == 1)
        returns.note(id)
        #expect(returns.given("0") == 0, "the map was cleared rather than grown past its bound")
        #expect(returns.given(id) == 1)
    }
}
