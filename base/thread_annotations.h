// Clang thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html), as in
// leveldb's port/thread_annotations.h and abseil's absl/base/thread_annotations.h.
//
// They let `-Wthread-safety` (on in clang builds, as an error; see the top CMakeLists.txt) check
// at compile time that a member marked GUARDED_BY(mu_) is only touched with mu_ held and that a
// function marked REQUIRES(mu_) is only called with it held. Capabilities are base::Mutex and
// base::SharedMutex (base/mutex.h); std::mutex is not annotated, so use those instead.
//
// On other compilers the macros expand to nothing.
#pragma once

#if defined(__clang__)
#define THREAD_ANNOTATION_ATTRIBUTE__(x) __attribute__((x))
#else
#define THREAD_ANNOTATION_ATTRIBUTE__(x)  // no-op
#endif

// A type whose objects are capabilities (a mutex).
#define CAPABILITY(x) THREAD_ANNOTATION_ATTRIBUTE__(capability(x))

// An RAII type that acquires a capability in its constructor and releases it in its destructor.
#define SCOPED_CAPABILITY THREAD_ANNOTATION_ATTRIBUTE__(scoped_lockable)

// A data member that may only be read or written with the given capability held (reads may hold
// it shared).
#define GUARDED_BY(x) THREAD_ANNOTATION_ATTRIBUTE__(guarded_by(x))

// A pointer member whose pointee may only be accessed with the given capability held.
#define PT_GUARDED_BY(x) THREAD_ANNOTATION_ATTRIBUTE__(pt_guarded_by(x))

// Lock ordering: this capability is acquired before / after the given ones.
#define ACQUIRED_BEFORE(...) THREAD_ANNOTATION_ATTRIBUTE__(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) THREAD_ANNOTATION_ATTRIBUTE__(acquired_after(__VA_ARGS__))

// The caller must hold the capabilities (exclusively, or at least shared).
#define REQUIRES(...) THREAD_ANNOTATION_ATTRIBUTE__(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) THREAD_ANNOTATION_ATTRIBUTE__(requires_shared_capability(__VA_ARGS__))

// The function acquires / releases the capabilities (exclusively or shared). RELEASE on a scoped
// type's destructor, or RELEASE_GENERIC for either mode.
#define ACQUIRE(...) THREAD_ANNOTATION_ATTRIBUTE__(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) THREAD_ANNOTATION_ATTRIBUTE__(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) THREAD_ANNOTATION_ATTRIBUTE__(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) THREAD_ANNOTATION_ATTRIBUTE__(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) THREAD_ANNOTATION_ATTRIBUTE__(release_generic_capability(__VA_ARGS__))

// The function tries to acquire the capability and returns the given value on success.
#define TRY_ACQUIRE(...) THREAD_ANNOTATION_ATTRIBUTE__(try_acquire_capability(__VA_ARGS__))
#define TRY_ACQUIRE_SHARED(...) \
  THREAD_ANNOTATION_ATTRIBUTE__(try_acquire_shared_capability(__VA_ARGS__))

// The caller must not hold the capabilities (the function acquires them itself; non-reentrant).
#define EXCLUDES(...) THREAD_ANNOTATION_ATTRIBUTE__(locks_excluded(__VA_ARGS__))

// Tells the analysis the capability is held (checked at run time, or known by construction).
#define ASSERT_CAPABILITY(x) THREAD_ANNOTATION_ATTRIBUTE__(assert_capability(x))
#define ASSERT_SHARED_CAPABILITY(x) THREAD_ANNOTATION_ATTRIBUTE__(assert_shared_capability(x))

// The function returns a reference to the given capability.
#define RETURN_CAPABILITY(x) THREAD_ANNOTATION_ATTRIBUTE__(lock_returned(x))

// Turns the analysis off for one function; say why next to each use.
#define NO_THREAD_SAFETY_ANALYSIS THREAD_ANNOTATION_ATTRIBUTE__(no_thread_safety_analysis)
