import ArgumentParser
import CPUFeatures
import Mining
import MiningKernels

extension KernelName: ExpressibleByArgument {}
extension WorkerPriority: ExpressibleByArgument {}

/// `--kernel NAME|auto|all`, shared by the commands that hash.
struct KernelSelection: ExpressibleByArgument, Sendable {
    enum Choice: Sendable { case auto, all, named(KernelName) }
    let choice: Choice

    init?(argument: String) {
        switch argument {
        case "auto": choice = .auto
        case "all": choice = .all
        default:
            guard let name = KernelName(rawValue: argument) else { return nil }
            choice = .named(name)
        }
    }

    static var allValueStrings: [String] { ["auto", "all"] + KernelName.allCases.map(\.rawValue) }
    var defaultValueDescription: String { "auto" }

    /// The kernels this selection means on this CPU.
    /// - Throws: `ValidationError` naming the kernel and the missing CPU features.
    func kernels(includeVariants: Bool) throws -> [Kernel] {
        switch choice {
        case .auto: return [Kernel.best]
        case .all: return Kernel.available(includeVariants: includeVariants)
        case .named(let name):
            do { return [try Kernel.named(name)] } catch { throw ValidationError("--kernel: \(error.message)") }
        }
    }
}
