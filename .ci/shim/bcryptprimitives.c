/*
 * A stand-in for Windows' bcryptprimitives.dll, for running lwt's Windows test binaries
 * under Wine 8 (Debian 12), whose bcryptprimitives.dll lacks ProcessPrng. Rust's standard
 * library (1.78 and later) gets its random bytes (e.g. HashMap seeds) from ProcessPrng and
 * aborts at start-up without it.
 *
 * ProcessPrng fills the buffer from the system's preferred RNG through BCryptGenRandom,
 * which Wine implements. Like the real one, it always returns TRUE; a failure of the RNG is
 * fatal (as on Windows), since callers do not check the result.
 *
 * Built by .ci/windows.sh with mingw-w64 and placed beside the test .exe files, which Wine's
 * loader searches first: x86_64-w64-mingw32-gcc -shared -o bcryptprimitives.dll
 * bcryptprimitives.c bcryptprimitives.def -lbcrypt
 */
#include <windows.h>
#include <bcrypt.h>

#ifndef BCRYPT_USE_SYSTEM_PREFERRED_RNG
#define BCRYPT_USE_SYSTEM_PREFERRED_RNG 0x00000002
#endif

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        /* BCryptGenRandom takes a ULONG length: feed it in chunks. */
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) < 0) {
            ExitProcess(0xC0000001u); /* no randomness: nothing safe to return */
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst;
    (void)reason;
    (void)reserved;
    return TRUE;
}
