"""States and municipalities; both keyed by IBGE code and loaded from the shipped data."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from taskgo.db.base import Base


class State(Base):
    __tablename__ = "states"

    id: Mapped[int] = mapped_column(
        Integer, primary_key=True, autoincrement=False
    )  # IBGE 2-digit code
    uf: Mapped[str] = mapped_column(String(2), unique=True)
    name: Mapped[str] = mapped_column(String(60))


class City(Base):
    __tablename__ = "cities"

    id: Mapped[int] = mapped_column(
        Integer, primary_key=True, autoincrement=False
    )  # IBGE 7-digit code
    state_id: Mapped[int] = mapped_column(Integer, ForeignKey("states.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    uf: Mapped[str] = mapped_column(String(2))
    latitude: Mapped[float] = mapped_column(Float)  # of the municipal seat, WGS84 degrees
    longitude: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64))
