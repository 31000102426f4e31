import ArgumentParser
import CloudBus
import Foundation
import Primitives

/// `cloudbus-bench fleet-model`: the numbers of docs/fleet-model.md, computed with the project's own ring
/// (`ConsistentHashRing`, ZStack's 500 virtual nodes per member) rather than assumed: how evenly W workers split the
/// hosts, how many hosts move when one leaves, and the message and store rates a cloud of this size makes.
struct BenchFleetModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet-model", abstract: "Ring balance and rates of a fleet (docs/fleet-model.md).")

    @Option(help: "Hosts in the cloud.")
    var hosts: Int = 10_000

    @Option(help: "VMs per host.")
    var vmsPerHost: Int = 50

    @Option(help: "Seconds between two pings of one host (ZStack's host.ping.interval).")
    var pingInterval: Double = 60

    @Option(help: "Comma-separated fleet sizes.")
    var workers: String = "2,3,4,6,8,12,16"

    @Option(help: "Random fleets (node ids) per size; the table gives the median and the worst.")
    var trials: Int = 20

    @Option(help: "Seed of the node and host ids.")
    var seed: UInt64 = 42

    func run() throws {
        var random = SplitMix64(seed: seed)
        func uuid() -> String {
            String(format: "%016llx%016llx", random.next(), random.next())
        }
        let hostIds = (0..<hosts).map { _ in uuid() }
        let sizes = workers.split(separator: ",").compactMap { Int($0) }
        let pingsPerSecond = Double(hosts) / pingInterval
        print("fleet-model: \(hosts) hosts × \(vmsPerHost) VMs, a ping per host every \(pingInterval) s "
              + "(\(String(format: "%.1f", pingsPerSecond)) pings/s), \(trials) random fleets per size, seed \(seed)")
        print("")
        print("| workers | hosts per worker (mean) | max / mean, median fleet | max / mean, worst fleet | hosts moved when one leaves (median) | ideal 1/W | ping + VM sync per worker (msgs/s, mean; busiest worker) |")
        print("|---|---|---|---|---|---|---|")
        for size in sizes {
            var balances: [Double] = []
            var moved: [Double] = []
            var busiest: [Double] = []
            for _ in 0..<trials {
                let nodes = (0..<size).map { _ in uuid() }
                let ring = ConsistentHashRing(nodes: nodes)
                var counts: [String: Int] = [:]
                var owners: [String] = []
                owners.reserveCapacity(hosts)
                for host in hostIds {
                    let owner = ring.owner(of: host) ?? ""
                    owners.append(owner)
                    counts[owner, default: 0] += 1
                }
                let mean = Double(hosts) / Double(size)
                let maximum = Double(counts.values.max() ?? 0)
                balances.append(maximum / mean)
                busiest.append(maximum)
                // One worker leaves: which hosts change owner?
                var smaller = ring
                smaller.remove(nodes[0])
                var changed = 0
                for (index, host) in hostIds.enumerated() where smaller.owner(of: host) != owners[index] { changed += 1 }
                moved.append(Double(changed) / Double(hosts))
            }
            func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
            let perHost = 2 * pingsPerSecond / Double(hosts)  // a ping and the VM sync it triggers
            print(String(format: "| %d | %.0f | %.2f | %.2f | %.1f %% | %.1f %% | %.1f; %.1f |",
                         size, Double(hosts) / Double(size), median(balances), balances.max() ?? 0,
                         median(moved) * 100, 100 / Double(size),
                         2 * pingsPerSecond / Double(size), median(busiest) * perHost))
        }
        let vms = hosts * vmsPerHost
        print("")
        print(String(format: "cloud-wide: %.1f pings/s + %.1f VM syncs/s (each reads 1 host row and the %d expected VMs "
                     + "of its host, %d rows in all); answers journalled: %.1f/s; store statements for them: "
                     + "~%.0f reads/s + group commits", pingsPerSecond, pingsPerSecond, vmsPerHost, vms,
                     2 * pingsPerSecond, 3 * pingsPerSecond))
    }
}
