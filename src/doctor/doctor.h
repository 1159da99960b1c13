/* doctor.h - `kidou doctor IFACE`: a PXE client's view of a network, for
 * the first hour on it.
 *
 *   kidou doctor IFACE [--config FILE] [--wait SEC] [--mac MAC] [--json]
 *
 * It sends three DISCOVERs on IFACE (BIOS PXE, UEFI x64 PXE, iPXE), one
 * router solicitation, and for each offered boot file one TFTP read asking
 * for the size only (then an ERROR ending it): a bounded number of packets,
 * only on IFACE, never a REQUEST, never a server's answer. It lists who
 * answered, which UDP ports a boot server needs are taken on this machine,
 * and draws findings (doctor/findings.h).
 *
 * Linked into the executable only. */
#ifndef KIDOU_DOCTOR_H
#define KIDOU_DOCTOR_H

/* argv[0] is "doctor". Returns the exit status: 0 when nothing wrong was
 * found, 1 when a finding is a problem, 2 on a usage error or when the
 * doctor could not probe (no such interface, not root). */
int doctor_main(int argc, char **argv);

#endif
