"""This toolkit's version: raised with each landed change that users can see."""

VERSION = "0.24.0"
