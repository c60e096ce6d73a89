"""BPMN diagrams, the matter catalog and its loader."""
