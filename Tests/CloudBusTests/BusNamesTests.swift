import CloudBus
import Foundation
import Primitives
import Testing

@Suite("Bus names")
struct BusNamesTests {
    @Test func serviceQueueAndReplyInboxNames() throws {
        let node = try #require(NodeUUID(WireExamples.nodeB))
        let host = ServiceID(service: ServiceID.hostService, node: node)
        #expect(host.rawValue == "host.9b1d387e11bd3ab0a673c655eb4c8f66")
        #expect(host.queueName == "zstack.message.host.9b1d387e11bd3ab0a673c655eb4c8f66")
        #expect(ServiceID.replyInbox(of: node).queueName == "zstack.message.cloudbus.9b1d387e11bd3ab0a673c655eb4c8f66")
        #expect(BusNames.messageQueue(serviceId: "api.portal") == "zstack.message.api.portal")
        #expect(BusNames.eventQueue(name: "eventMaid.x") == "zstack.event.eventMaid.x")
    }

    @Test func parsingServiceIds() throws {
        let parsed = try #require(ServiceID(parsing: "storage.primary.9b1d387e11bd3ab0a673c655eb4c8f66"))
        #expect(parsed.service == "storage.primary")
        #expect(parsed.node.rawValue == WireExamples.nodeB)
        #expect(ServiceID(parsing: "api.portal") == nil)
        #expect(ServiceID(parsing: ".9b1d387e11bd3ab0a673c655eb4c8f66") == nil)
        #expect(ServiceID(parsing: "9b1d387e11bd3ab0a673c655eb4c8f66:::host") == nil, "HTTP-era syntax is not ours")
    }

    @Test func exchangeNamesMatchZStack() {
        #expect(BusNames.p2pExchange == "P2P")
        #expect(BusNames.broadcastExchange == "BROADCAST")
        #expect(BusNames.noRouteExchange == "NO_ROUTE")
        #expect(BusNames.noRouteQueue == "zstack.message.NoRouteEndPoint")
        #expect(BusNames.deadLetterRoutingKey == "dead-message")
    }

    @Test(arguments: [
        ("446d0be655ec32fc9922965af3bd984f", true),
        ("446D0BE655EC32FC9922965AF3BD984F", false),
        ("446d0be6-55ec-32fc-9922-965af3bd984f", false),
        ("446d0be655ec32fc9922965af3bd984", false),
        ("446d0be655ec32fc9922965af3bd984f0", false),
        ("g46d0be655ec32fc9922965af3bd984f", false),
        ("", false),
    ])
    func nodeUUIDValidation(candidate: String, valid: Bool) {
        #expect(NodeUUID.isValid(candidate) == valid)
        #expect((NodeUUID(candidate) != nil) == valid)
    }

    @Test func randomIdsAreWellFormedVersion4() {
        var seen: Set<String> = []
        for _ in 0..<100 {
            let id = MessageID.random()
            #expect(ZStackUUID.isWellFormed(id))
            #expect(Array(id)[12] == "4")
            #expect("89ab".contains(Array(id)[16]))
            seen.insert(id)
        }
        #expect(seen.count == 100)
        #expect(NodeUUID.isValid(NodeUUID.random().rawValue))
    }

    @Test func nodeUUIDDecodingRejectsBadShapes() throws {
        let good = try JSONValue.array([.string(WireExamples.nodeA)]).jsonData()
        #expect(try JSONDecoder().decode([NodeUUID].self, from: good).first?.rawValue == WireExamples.nodeA)
        let bad = try JSONValue.array(["ABC"]).jsonData()
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([NodeUUID].self, from: bad) }
    }
}
