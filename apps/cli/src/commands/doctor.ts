import { cpuInfo } from '@anyprec/kernels-cpu';
import { cudaInfo } from '@anyprec/kernels-cuda';
import { type Program, printJson } from '../run.js';

/** `anyprec doctor`: which backends work here, and why not when they don't. */
export function register(program: Program): void {
  program
    .command('doctor')
    .description('report which compute backends (native CPU, CUDA) are usable on this machine')
    .option('--json', 'print one JSON object on stdout')
    .action((options) => {
      const report = { node: process.version, cpu: cpuInfo(), cuda: cudaInfo() };
      if (options.json) return printJson(report);
      const line = (name: string, ok: boolean, detail: string) =>
        process.stdout.write(`${name.padEnd(6)} ${ok ? 'available' : 'unavailable'}  ${detail}\n`);
      line(
        'cpu',
        report.cpu.available,
        report.cpu.available
          ? `${report.cpu.hardwareThreads} threads, avx512f=${report.cpu.avx512f}`
          : (report.cpu.reason ?? ''),
      );
      line(
        'cuda',
        report.cuda.available,
        report.cuda.available
          ? `${report.cuda.device} (sm ${report.cuda.computeCapability})`
          : report.cuda.reason,
      );
    });
}
