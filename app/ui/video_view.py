"""The video view: paints the newest ready frame (already drawn and scaled off the UI thread), plus the layer
switches as checkable actions shared by the view's own toolbar and the View menu."""
from __future__ import annotations

from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QAction, QColor, QImage, QPainter
from PyQt6.QtWidgets import QSizePolicy, QToolBar, QVBoxLayout, QWidget

LAYER_TITLES = {  # OverlayStyle field -> what the user sees
    "boxes": "Boxes", "track_ids": "Track IDs", "skeletons": "Skeletons", "distance": "Distance",
    "actions": "Actions", "objects": "Objects", "faces": "Faces", "face_mesh": "Face mesh", "gaze": "Gaze",
    "errors": "Errors", "show_depth_inset": "Depth inset",
}


class ImageView(QWidget):
    """A QImage painted centred with its aspect ratio; says ``message`` while there is none."""

    resized = pyqtSignal(QSize)

    def __init__(self, message: str = "No frames yet", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.message = message
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def set_image(self, image: QImage | None) -> None:
        self.image = image
        self.update()

    def set_message(self, message: str) -> None:
        self.message = message
        self.update()

    def image_rect(self) -> QRectF:
        """Where the image is painted (centred, aspect kept)."""
        if self.image is None or self.image.isNull():
            return QRectF()
        iw, ih = self.image.width(), self.image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(24, 24, 24))
        if self.image is not None and not self.image.isNull():
            rect = self.image_rect()
            if abs(rect.width() - self.image.width()) < 1 and abs(rect.height() - self.image.height()) < 1:
                painter.drawImage(rect.topLeft(), self.image)  # drawn at the view's size already: a plain blit
            else:  # the view was resized since: scale until the next frame arrives
                painter.drawImage(rect, self.image)
        elif self.message:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
        painter.end()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.resized.emit(event.size())

    def to_image_point(self, pos: QPointF, image_size: tuple[int, int]) -> tuple[int, int] | None:
        """A widget position to pixel coordinates of an image of ``image_size`` shown here; None outside it."""
        rect = self.image_rect()
        if rect.isEmpty() or not rect.contains(pos):
            return None
        x = int((pos.x() - rect.x()) / rect.width() * image_size[0])
        y = int((pos.y() - rect.y()) / rect.height() * image_size[1])
        return min(max(x, 0), image_size[0] - 1), min(max(y, 0), image_size[1] - 1)


class VideoView(QWidget):
    """The video with overlays and a toolbar of layer switches."""

    layer_toggled = pyqtSignal(str, bool)

    def __init__(self, layers: dict[str, bool], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = ImageView("Waiting for the first frame...")
        self.toolbar = QToolBar("Layers")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.actions_by_layer: dict[str, QAction] = {}
        for name, title in LAYER_TITLES.items():
            action = QAction(title, self)
            action.setCheckable(True)
            action.setChecked(layers.get(name, True))
            action.setToolTip(f"Show {title.lower()}")
            action.toggled.connect(lambda on, n=name: self.layer_toggled.emit(n, on))
            self.toolbar.addAction(action)
            self.actions_by_layer[name] = action
        for button in self.toolbar.findChildren(QWidget):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.view, 1)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(800, 600)
