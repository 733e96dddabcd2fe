import AsyncHTTPClient
import Foundation
import OpenADR2b

extension OpenADR2bSource {
    /// Leaves the program (`flexminer openadr2b-leave`): sends `oadrCancelPartyRegistration` for the
    /// registration in the state file, over the same transport as `run` (mutual TLS and XML signatures when
    /// certificates are set), checks the VTN's `oadrCanceledPartyRegistration`, then removes the state file
    /// (the registration and every event known, as when the VTN cancels; a snapshot holds nothing else). On
    /// any error the state file is left as it was, so the operator can retry.
    /// - Returns: the line to print.
    /// - Throws: `OpenADR2bError` naming the state file (`.state`), the VTN's code and description
    ///   (`.refused`), the answer's problem (`.malformed`, `.xml`) or the connection's (`.transport`).
    package static func leave(
        _ configuration: Configuration, httpClient: HTTPClient = .shared
    ) async throws(OpenADR2bError) -> String {
        guard let path = configuration.statePath, !path.isEmpty else {
            throw OpenADR2bError(.state, "--openadr-state PATH is required: the registration to cancel is in it")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw OpenADR2bError(.state, "state file \(path) does not exist: this VEN has no registration to cancel")
        }
        let saved = try OADRStateFile.read(path)
        guard !saved.venID.isEmpty, !saved.registrationID.isEmpty else {
            throw OpenADR2bError(.state, "state file \(path) holds no registration (no venID or registrationID)")
        }
        let source = OpenADR2bSource(exchangeOnly: configuration, httpClient: httpClient)
        let requestID = "fm-leave-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let body = OADRMessage.cancelPartyRegistration(
            requestID: requestID, registrationID: saved.registrationID, venID: saved.venID)
        switch await source.post(.eiRegisterParty, body) {
        case .reply(let bytes, _):
            try VTNMessage.checkCanceled(bytes, registrationID: saved.registrationID)
        case .failed(let why, _, _):
            throw OpenADR2bError(.transport, "oadrCancelPartyRegistration to \(configuration.baseURL): \(why)")
        case .start, .tick:
            // `post` answers only with a reply or a failure.
            throw OpenADR2bError(.transport, "oadrCancelPartyRegistration to \(configuration.baseURL): no answer")
        }
        do { try FileManager.default.removeItem(atPath: path) } catch {
            throw OpenADR2bError(
                .state,
                "the VTN cancelled registration \(saved.registrationID), but state file \(path) cannot be removed "
                    + "(\(error)): remove it before the next run, or the VEN resumes the cancelled registration")
        }
        return "openadr2b: left the program at \(configuration.baseURL): registration \(saved.registrationID) "
            + "of VEN \(saved.venID) cancelled; state file \(path) removed"
    }
}
