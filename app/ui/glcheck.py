"""Can this process make an OpenGL context? Asked BEFORE any QOpenGLWidget exists: on the ``offscreen``
platform Qt prints "QOpenGLWidget is not supported on this platform" and the process then segfaults, so the 3D
view must not even be created there."""
from __future__ import annotations

_NO_GL_PLATFORMS = {"offscreen", "minimal", "vnc", "linuxfb"}
_cached: tuple[bool, str] | None = None


def gl_status() -> tuple[bool, str]:
    """(available, reason). Needs a QGuiApplication; the answer is kept for the process (its platform does not
    change)."""
    global _cached
    from PyQt6.QtGui import QGuiApplication

    if QGuiApplication.instance() is None:
        return False, "no Qt application yet"
    if _cached is None:
        _cached = _probe()
    return _cached


def _probe() -> tuple[bool, str]:
    from PyQt6.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext

    platform = QGuiApplication.platformName()
    if platform in _NO_GL_PLATFORMS:
        return False, f"the Qt platform {platform!r} has no OpenGL (run with a display, or under xvfb-run)"
    try:
        import pyqtgraph.opengl  # noqa: F401  (needs PyOpenGL)
    except Exception as exc:  # ImportError, or PyOpenGL failing to find libGL
        return False, f"pyqtgraph.opengl cannot be loaded: {exc}"
    context = QOpenGLContext()
    if not context.create():
        return False, "no OpenGL context can be created (no GL driver? install libglx-mesa0)"
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    try:
        if not surface.isValid() or not context.makeCurrent(surface):
            return False, "an OpenGL context exists but cannot be made current"
        context.doneCurrent()
    finally:
        surface.destroy()
    return True, f"OpenGL {context.format().majorVersion()}.{context.format().minorVersion()}"
