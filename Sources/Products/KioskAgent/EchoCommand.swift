import AgentConfiguration
import ArgumentParser
import Delivery
import Foundation
import IngestPipeline

struct EchoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "Check that a destination answers: C-ECHO for dicom:// and dicoms://, an authenticated request for DICOMweb.",
        discussion: "Exit codes: 0 it answered; 1 it did not (the reason is printed); 2 usage or configuration error."
    )

    @Argument(help: "dicom://AE@HOST:PORT, dicoms://AE@HOST:PORT or dicomweb+http(s)://HOST:PORT/PATH.")
    var url: String

    @Option(name: .customLong("calling-ae"), help: "Our AE title (default: [delivery] calling_ae).")
    var callingAE: String?

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let configuration = try common.loadConfiguration()
        let destination = try Destination(parsing: url, stateDirectory: common.stateDirectory)
        if case .archive = destination { throw ValidationError("echo needs a network destination, not the archive") }
        let target = try DeliverySetup.target(for: destination, configuration, callingAE: callingAE)
        let started = Date()
        do {
            let answer = try await target.verify()
            print(String(format: "%@ (%.0f ms)", answer, Date().timeIntervalSince(started) * 1000))
        } catch {
            FileHandle.standardError.write(Data("echo \(url): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
