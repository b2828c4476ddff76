import ArgumentParser
import Foundation
import PortalPKI

/// `dicom-portal edge provision`: run on core's machine; the edge's link credentials, signed by the link CA core owns.
struct EdgeProvisionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provision",
        abstract: "Issue the edge's link certificate: DIR/link.crt, DIR/link.key (0600) and DIR/link-ca.crt.",
        discussion: """
            Run on core's machine. Copy DIR to the edge as EDGE_STATE/edge/link/ (or name the files as [edge] link_certificate, \
            link_key and link_ca_file in the edge's configuration). Core connects to the edge as [edge] url, so that host \
            must be one of --host. Running it again replaces the files (a renewal): copy them again and restart the edge.
            """)

    @OptionGroup var options: PortalOptions
    @Option(name: .customLong("host"), help: "A DNS name or IP address core reaches the edge by (repeat for more).") var hosts: [String] = []
    @Option(help: "Where to write the edge's files.", completion: .directory) var out: String
    @Option(help: "The hospital, as the link CA names it when it is created.") var organization = "Hospital"

    func validate() throws {
        guard !hosts.isEmpty else { throw ValidationError("name at least one --host the edge is reached by") }
    }

    func run() throws {
        do {
            let authority = try EdgeLinkAuthority.openOrCreate(directory: options.stateDirectory.edgeLink.path, organization: organization)
            let issued = try authority.provisionEdge(hosts: hosts, outputDirectory: out)
            // Core's own side of the link at the same time, so the link can be tried (curl, a health check) before core runs.
            _ = try authority.coreCredentials()
            print("edge link certificate for \(hosts.joined(separator: ", ")), valid until \(ISO8601DateFormatter().string(from: issued.certificate.notValidAfter))")
            print("wrote \(issued.certificatePath), \(issued.keyPath), \(issued.caPath)")
        } catch {
            fail("\(error)", status: .problem)
        }
    }
}
