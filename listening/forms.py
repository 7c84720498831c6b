from django import forms

from listening.query import QueryError, compile_query


class QueryTestForm(forms.Form):
    query = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80, "autofocus": True}),
        help_text='Terms, "phrases", AND / OR / NOT, (parentheses), refund*, #tag, @handle, '
        "author:, site:, lang:",
    )

    def clean_query(self):
        text = self.cleaned_data["query"]
        try:
            self.compiled = compile_query(text)
        except QueryError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return text
